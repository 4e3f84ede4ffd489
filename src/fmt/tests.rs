//! Golden cases: messy inputs and their canonical form, written by hand.

use super::format;

fn assert_formats(input: &str, expected: &str) {
    let got = format(input).expect("the input parses");
    assert_eq!(got, expected, "\n--- got ---\n{got}--- expected ---\n{expected}");
    assert_eq!(format(&got).unwrap(), got, "formatting is stable");
}

#[test]
fn records_one_field_per_line_with_aligned_equals() {
    assert_formats(
        "sprs 0.1\nuse std::models::llama\ntrain t {\n  model=llama{width=64,depth=2}\n      batch = 16,\n budget   = 10   tokens/param }\n",
        "sprs 0.1\nuse std::models::llama\ntrain t {\n    model  = llama { width = 64, depth = 2 }\n    batch  = 16\n    budget = 10 tokens/param\n}\n",
    );
}

#[test]
fn comments_stay_where_they_were() {
    assert_formats(
        "// top\n\n\n/// the base\ntrain t { // trailing\n    /// doc of batch\n    batch = 16 /* why */\n\n    // a group\n    seed = 1\n    // last\n}\n// end\n",
        "// top\n\n/// the base\ntrain t { // trailing\n    /// doc of batch\n    batch = 16 /* why */\n\n    // a group\n    seed = 1\n    // last\n}\n// end\n",
    );
}

#[test]
fn expressions_are_spaced_and_parenthesised_by_precedence() {
    assert_formats(
        "let a = ((1+2)*3)^-1\nlet b = -(2^2)\nlet c = (2^3)^2\nlet d = [ 1,2 ,3 ]  tokens\nlet e = not (a==b) and c\nlet f = grid(0,2,0.5)\nlet g = (1,)\n",
        "let a = ((1 + 2) * 3)^-1\nlet b = -2^2\nlet c = (2^3)^2\nlet d = [1, 2, 3] tokens\nlet e = not a == b and c\nlet f = grid(0, 2, 0.5)\nlet g = (1,)\n",
    );
}

#[test]
fn multiline_lists_keep_one_entry_per_line_and_stand_apart_from_the_alignment() {
    assert_formats(
        "sweep s = base {\n  model.width in [16,\n  32]\n  prune in [dense]\n  seed=2 }\n",
        "sweep s = base {\n    model.width in [\n        16,\n        32,\n    ]\n    prune in [dense]\n    seed  = 2\n}\n",
    );
}

#[test]
fn a_triple_slash_after_an_operand_is_a_division_and_a_comment() {
    assert_formats("let a = 6 ///2\n    3\n", "let a = 6 / //2\n    3\n");
}
