//! Every environment variable declared in `src/envvars.rs` is documented in `docs/env-vars.md`
//! (regenerate with `scripts/gen-env-docs.py`).

#[test]
fn every_env_var_is_documented() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = std::fs::read_to_string(root.join("src/envvars.rs")).unwrap();
    let doc = std::fs::read_to_string(root.join("docs/env-vars.md")).unwrap();
    let mut missing = vec![];
    for line in src.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("pub const ")
            && let Some(start) = rest.find("= \"")
        {
            let name = rest[start + 3..].trim_end_matches("\";");
            if !doc.contains(&format!("| `{name}` |")) {
                missing.push(name.to_string());
            }
        }
    }
    assert!(
        missing.is_empty(),
        "run scripts/gen-env-docs.py; undocumented: {missing:?}"
    );
}
