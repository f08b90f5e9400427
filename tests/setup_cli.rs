//! `hermes setup` without a terminal: guidance, `--reset` with backups, unknown sections.

#[path = "model_support/mod.rs"]
mod support;

use std::process::Stdio;

use support::Env;

fn run(c: &mut std::process::Command) -> (i32, String, String) {
    let out = c.stdin(Stdio::null()).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn backups(e: &Env) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(e.home.path())
        .unwrap()
        .flatten()
        .map(|d| d.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("config.yaml.bak."))
        .collect();
    v.sort_by_key(|n| std::fs::metadata(e.path(n)).and_then(|m| m.modified()).ok());
    v
}

#[test]
fn no_terminal_prints_guidance_and_exits_2_without_writing() {
    let e = Env::new();
    e.write("config.yaml", "model:\n  default: m\n");
    let before = e.snapshot();
    for args in [vec!["setup"], vec!["setup", "model"], vec!["setup", "pool"]] {
        let (code, out, err) = run(e.cmd().args(&args));
        assert_eq!(code, 2, "{args:?}");
        assert!(out.contains("Hermes Setup — Non-interactive mode"), "{out}");
        assert!(out.contains("hermes model --provider deepseek --model deepseek-chat"));
        assert!(err.contains("needs an interactive terminal"), "{err}");
    }
    assert_eq!(e.snapshot(), before);
}

#[test]
fn runtime_sections_exit_2_naming_ours() {
    let e = Env::new();
    for s in ["tts", "terminal", "gateway", "tools", "agent"] {
        let (code, _, err) = run(e.cmd().args(["setup", s]));
        assert_eq!(code, 2, "{s}");
        assert!(err.contains("configures the agent runtime"), "{err}");
        assert!(err.contains("model (provider and model), pool (credential rotation)"));
    }
    let (code, _, err) = run(e.cmd().args(["setup", "bogus"]));
    assert_eq!(code, 2);
    assert!(err.contains("choose from: model, pool"), "{err}");
}

#[test]
fn reset_backs_up_the_original_first_keeps_five_and_needs_no_terminal() {
    let e = Env::new();
    let (code, out, _) = run(e.cmd().args(["setup", "--reset"]));
    assert_eq!(code, 0);
    assert!(out.contains("✓ Configuration reset to defaults."));
    assert!(backups(&e).is_empty(), "nothing to back up on a fresh home");
    for i in 0..7 {
        let original = format!("# mine {i}\nmodel:\n  default: m{i}\n");
        e.write("config.yaml", &original);
        let (code, out, err) = run(e.cmd().args(["setup", "--reset"]));
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("Previous config backed up to: "), "{out}");
        let newest = backups(&e).pop().unwrap();
        assert_eq!(e.read(&newest), original, "the backup holds the original");
        let cfg: serde_yaml::Value = serde_yaml::from_str(&e.read("config.yaml")).unwrap();
        assert!(cfg.get("model").is_none());
    }
    assert_eq!(backups(&e).len(), 5);
}

#[test]
fn non_interactive_flag_prints_the_guidance_and_exits_0_even_on_a_terminal() {
    let e = Env::new();
    e.write("config.yaml", "model:\n  default: m\n");
    let before = e.snapshot();
    let (code, out, err) = run(e.cmd().args(["setup", "--non-interactive"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Hermes Setup — Non-interactive mode"), "{out}");
    assert!(
        out.contains("--non-interactive: the wizard does not run"),
        "{out}"
    );
    assert!(out.contains("hermes model --provider deepseek --model deepseek-chat"));
    assert!(err.is_empty(), "{err}");
    // On a terminal too: the guidance, without claiming there is no terminal.
    let mut c = e.cmd();
    c.args(["setup", "--non-interactive"]);
    let mut p = support::pty::spawn(c);
    support::exp(&mut p, "--non-interactive: the wizard does not run");
    let (code, rest) = support::pty::finish(p);
    assert_eq!(code, 0);
    assert!(!rest.contains("not a terminal"), "{rest}");
    assert_eq!(e.snapshot(), before);
}
