//! Random templates, valid and not, from a vocabulary of Go template
//! pieces: parsing and executing never panics, and every failure is an
//! error value.

use template::{render, Funcs, Value};

const PIECES: &[&str] = &[
    "{{",
    "}}",
    "{{-",
    "-}}",
    " ",
    "{{/*",
    "*/}}",
    ".",
    ".Labels",
    ".Value",
    ".Labels.job",
    "$",
    "$x",
    "$x :=",
    "$labels",
    "|",
    "(",
    ")",
    "if",
    "else",
    "end",
    "range",
    "with",
    "define",
    "template",
    "block",
    "break",
    "continue",
    "\"a\"",
    "\"%d\"",
    "\"%.2f\"",
    "\"%*d\"",
    "`raw`",
    "'c'",
    "1",
    "-2",
    "1.5e3",
    "0x1F",
    "nil",
    "true",
    "false",
    "printf",
    "print",
    "println",
    "len",
    "index",
    "slice",
    "eq",
    "ne",
    "lt",
    "gt",
    "and",
    "or",
    "not",
    "html",
    "js",
    "urlquery",
    "call",
    "text",
    "\n",
    ",",
    ":=",
    "=",
    "%",
    "\\",
    "\"",
];

#[test]
fn random_templates_do_not_panic() {
    let data = Value::map([
        (
            "Labels",
            Value::string_map([("job", "api"), ("instance", "a:1")]),
        ),
        ("Value", Value::Float(0.5)),
        ("List", Value::list(vec![Value::Int(1), "x".into()])),
    ]);
    let funcs = Funcs::new();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut ok, mut failed) = (0, 0);
    for _ in 0..5000 {
        let n = 1 + next() % 24;
        let mut text = String::new();
        for _ in 0..n {
            text.push_str(PIECES[(next() % PIECES.len() as u64) as usize]);
            if next() % 3 == 0 {
                text.push(' ');
            }
        }
        match render("t", &text, &data, &funcs) {
            Ok(_) => ok += 1,
            Err(_) => failed += 1,
        }
    }
    assert!(ok > 0 && failed > 0, "{ok} rendered, {failed} failed");
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let funcs = Funcs::new();
    let deep = format!("{{{{ {}1{} }}}}", "(".repeat(5000), ")".repeat(5000));
    assert!(render("t", &deep, &Value::Nil, &funcs).is_err());
    let ifs = format!(
        "{}x{}",
        "{{ if true }}".repeat(5000),
        "{{ end }}".repeat(5000)
    );
    assert!(render("t", &ifs, &Value::Nil, &funcs).is_err());
    let wide = render(
        "t",
        "{{ printf \"%.99999999f|%99999999d\" 1.5 2 }}",
        &Value::Nil,
        &funcs,
    )
    .unwrap();
    assert!(wide.len() < 10_000);
    let count = render(
        "t",
        "{{ range 1000000000000 }}{{ if eq . 3 }}{{ break }}{{ end }}{{ . }}{{ end }}",
        &Value::Nil,
        &funcs,
    )
    .unwrap();
    assert_eq!(count, "012");
}
