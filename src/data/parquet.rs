//! Parquet inputs of `sprs tokenize` (FineWeb, Dolma): one document per row, from a string
//! column, read row group by row group (memory stays bounded by a row group).
//!
//! The `parquet` crate panics on some corrupt files where it should return an error (an
//! assertion in its bit reader, an unwrap in its Thrift decoder): every call into it runs under
//! [`guarded`], which turns such a panic into an error naming the file.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::{Arc, Once};

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::reader::RowIter;
use parquet::record::RowAccessor;
use parquet::schema::types::Type;

use super::tokenize::{TokenizeError, MAX_COLUMN_CHUNK_BYTES, MAX_DOCUMENT_BYTES};

/// The documents of the column `field` of a Parquet file: an error names the file and the row.
pub(super) fn documents<'a>(
    path: &Path,
    field: &str,
) -> Result<Box<dyn Iterator<Item = Result<String, TokenizeError>> + 'a>, TokenizeError> {
    let shown = path.display().to_string();
    let bad = |message: String| TokenizeError::Input { path: shown.clone(), message };
    let file = crate::fs::open_regular(path).map_err(|e| bad(e.to_string()))?;
    let reader = guarded(|| SerializedFileReader::new(file))
        .map_err(&bad)?
        .map_err(|e| bad(format!("not a Parquet file: {e}")))?;
    let schema = reader.metadata().file_metadata().schema_descr_ptr();
    let columns: Vec<String> = schema.root_schema().get_fields().iter().map(|f| f.name().to_string()).collect();
    let Some(column) = schema.root_schema().get_fields().iter().find(|f| f.name() == field).cloned() else {
        return Err(bad(format!("no column `{field}` (it has {}; choose one with `--field`)", columns.join(", "))));
    };
    // A row group is read whole: one whose column is larger than the bound, uncompressed, is
    // refused before it is read, whatever the file's own size.
    let index = schema.columns().iter().position(|c| c.path().parts().first().is_some_and(|p| p == field));
    for (group, metadata) in reader.metadata().row_groups().iter().enumerate() {
        let size = match index.and_then(|i| metadata.columns().get(i)) {
            Some(chunk) => chunk.uncompressed_size(),
            None => metadata.total_byte_size(),
        };
        if size > MAX_COLUMN_CHUNK_BYTES {
            return Err(bad(format!(
                "row group {group} holds {size} bytes of `{field}` uncompressed, more than {MAX_COLUMN_CHUNK_BYTES}"
            )));
        }
    }
    let projection = Type::group_type_builder("schema")
        .with_fields(vec![Arc::clone(&column)])
        .build()
        .map_err(|e| bad(e.to_string()))?;
    let mut rows = guarded(|| RowIter::from_file_into(Box::new(reader)).project(Some(projection)))
        .map_err(&bad)?
        .map_err(|e| bad(e.to_string()))?;
    let mut number = 0u64;
    let mut broken = false;
    Ok(Box::new(std::iter::from_fn(move || {
        if broken {
            return None;
        }
        number += 1;
        let at = |message: String| TokenizeError::Input { path: format!("{shown}: row {number}"), message };
        // After a panic the reader's state is unknown: the error is the last item.
        let row = match guarded(|| rows.next()) {
            Ok(row) => row?,
            Err(message) => {
                broken = true;
                return Some(Err(at(message)));
            }
        };
        Some(document(row, &column, at))
    })))
}

/// The text of a row's one column, or an error made by `at`.
fn document(
    row: parquet::errors::Result<parquet::record::Row>,
    column: &Type,
    at: impl Fn(String) -> TokenizeError,
) -> Result<String, TokenizeError> {
    let row = row.map_err(|e| at(format!("cannot read: {e}")))?;
    let text = match row.get_string(0) {
        Ok(text) => text.clone(),
        Err(_) => match row.get_bytes(0) {
            Ok(bytes) => String::from_utf8(bytes.data().to_vec())
                .map_err(|e| at(format!("not UTF-8 (at byte {})", e.utf8_error().valid_up_to())))?,
            Err(_) => return Err(at(format!("`{}` is not a string", column.name()))),
        },
    };
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(at(format!("a document of more than {MAX_DOCUMENT_BYTES} bytes")));
    }
    Ok(text)
}

thread_local! {
    /// Whether this thread is inside [`guarded`], whose panics are errors and are not printed.
    static GUARDED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `read` (a call into the `parquet` crate); a panic in it becomes an error message. The
/// process's panic hook is wrapped once so that such a panic is not printed; every other panic
/// goes to the hook as before.
fn guarded<T>(read: impl FnOnce() -> T) -> Result<T, String> {
    static QUIET: Once = Once::new();
    QUIET.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !GUARDED.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let outer = GUARDED.with(|g| g.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(read));
    GUARDED.with(|g| g.set(outer));
    result.map_err(|payload| {
        let reason = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no reason given".into());
        format!("a corrupt Parquet file (its reader failed: {reason})")
    })
}
