//! Parquet inputs of `sprs tokenize` (FineWeb, Dolma): one document per row, from a string
//! column, read row group by row group (memory stays bounded by a row group).

use std::path::Path;
use std::sync::Arc;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::reader::RowIter;
use parquet::record::RowAccessor;
use parquet::schema::types::Type;

use super::tokenize::{TokenizeError, MAX_COLUMN_CHUNK_BYTES, MAX_DOCUMENT_BYTES};
use crate::store::files;

/// The documents of the column `field` of a Parquet file: an error names the file and the row.
pub(super) fn documents<'a>(
    path: &Path,
    field: &str,
) -> Result<Box<dyn Iterator<Item = Result<String, TokenizeError>> + 'a>, TokenizeError> {
    let shown = path.display().to_string();
    let bad = |message: String| TokenizeError::Input { path: shown.clone(), message };
    let file = files::open_regular(path).map_err(|e| bad(e.to_string()))?;
    let reader = SerializedFileReader::new(file).map_err(|e| bad(format!("not a Parquet file: {e}")))?;
    let schema = reader.metadata().file_metadata().schema_descr_ptr();
    let columns: Vec<String> = schema.root_schema().get_fields().iter().map(|f| f.name().to_string()).collect();
    let Some(column) = schema.root_schema().get_fields().iter().find(|f| f.name() == field).cloned() else {
        return Err(bad(format!("no column `{field}` (it has {}; choose one with `--field`)", columns.join(", "))));
    };
    // A row group is read whole: one whose column is larger than the bound, uncompressed, is
    // refused before it is read, whatever the file's own size.
    let index = schema.columns().iter().position(|c| c.path().parts().first().is_some_and(|p| p == field));
    for (group, metadata) in reader.metadata().row_groups().iter().enumerate() {
        let size = index.map_or(metadata.total_byte_size(), |i| metadata.column(i).uncompressed_size());
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
    let rows = RowIter::from_file_into(Box::new(reader)).project(Some(projection)).map_err(|e| bad(e.to_string()))?;
    let mut number = 0u64;
    Ok(Box::new(rows.map(move |row| {
        number += 1;
        let at = |message: String| TokenizeError::Input { path: format!("{shown}: row {number}"), message };
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
    })))
}
