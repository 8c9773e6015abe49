//! `watchfire check chatops`: a good file passes; a bad one, or one naming
//! a receiver the Alertmanager configuration lacks, fails with file, line
//! and reason, and never prints a secret.

use std::process::Command;

fn check(args: &[&std::path::Path]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_watchfire"))
        .args(["check", "chatops"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn good_and_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let am = dir.path().join("alertmanager.yml");
    std::fs::write(
        &am,
        "route: {receiver: team}\nreceivers:\n  - name: team\n  - name: ops\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("signing"), "s3cr3t-from-file\n").unwrap();
    let good = dir.path().join("chatops.yml");
    std::fs::write(
        &good,
        "slack:\n  bot_token: xoxb-s3cr3t\n  signing_secret_file: signing\nreceivers:\n  - name: team\n    allow:\n      users: ['slack:U024BE7LH']\n",
    )
    .unwrap();
    let (code, out) = check(&[&good]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("SUCCESS") && out.contains("chats: slack") && out.contains("1 receivers"),
        "{out}"
    );
    let am_flag = std::path::Path::new("--alertmanager.config.file");
    let (code, out) = check(&[&good, am_flag, &am]);
    assert_eq!(code, Some(0), "{out}");

    let stranger = dir.path().join("stranger.yml");
    std::fs::write(
        &stranger,
        "slack:\n  bot_token: xoxb-s3cr3t\n  signing_secret: s3cr3t\nreceivers:\n  - name: team\n    allow: {anyone: true}\n  - name: nobody\n    allow: {anyone: true}\n",
    )
    .unwrap();
    let (code, out) = check(&[&stranger, am_flag, &am]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "{}:7: receivers[1]: receiver \"nobody\" is not a receiver of the Alertmanager configuration",
            stranger.display()
        )),
        "{out}"
    );
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "slack:\n  bot_token: xoxb-s3cr3t\n  signing_secret: s3cr3t\n  bot_token_file: other\n",
    )
    .unwrap();
    let (code, out) = check(&[&bad]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "{}:2: slack.bot_token: at most one of",
            bad.display()
        )),
        "{out}"
    );
    assert!(!out.contains("s3cr3t"), "a secret printed: {out}");
}
