//! `moobius-host defs` as an author meets it: the definition files and the
//! language server's settings written into a service directory, the same
//! bytes when run again, a hand-edited `Rhai.toml` kept, and `new` writing
//! them too. No network.

mod common;
use common::binary;
use std::path::Path;
use std::process::Command;

fn run(cwd: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(binary())
        .current_dir(cwd)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    (out.status.code().unwrap_or(-1), stdout + stderr.as_ref())
}

fn read(dir: &Path, rel: &str) -> String {
    std::fs::read_to_string(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

const FILES: [&str; 4] = [
    ".rhai/definitions/moobius-host.d.rhai",
    ".rhai/definitions/handlers.d.rhai",
    ".rhai/definitions/scenarios.d.rhai",
    "Rhai.toml",
];

#[test]
fn defs_writes_documented_definitions_and_the_settings() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, out) = run(tmp.path(), &["defs"]);
    assert_eq!(code, 0, "{out}");
    for f in FILES {
        assert!(out.contains(&format!("wrote     {f} (")), "{f}: {out}");
    }
    let api = read(tmp.path(), FILES[0]);
    assert!(api.contains("\nmodule static;\n"), "{api}");
    assert!(
        api.contains(
            "/// Sets the character list the recipients see in the channel, in this order.\n\
             /// `characters` and `recipients`: an id, a character, or an array mixing both.\n\
             fn send_characters(characters: ?, channel_id: string, recipients: ?);\n"
        ),
        "{api}"
    );
    assert!(api.contains("fn create_agent(name: string, avatar: string) -> Character;"));
    assert!(
        api.contains("fn join_channel(channel_id: string);"),
        "user mode"
    );
    let handlers = read(tmp.path(), FILES[1]);
    assert!(
        handlers.contains(
            "`action`: `#{subtype, channel_id, sender, context}`.\nfn on_join(action: ?);"
        ),
        "{handlers}"
    );
    let scenarios = read(tmp.path(), FILES[2]);
    for sig in ["fn join(member: Member);", "fn advance(ms: int);"] {
        assert!(scenarios.contains(sig), "{sig}: {scenarios}");
    }
    let settings = read(tmp.path(), "Rhai.toml");
    assert!(settings.starts_with("# Written by `moobius-host defs`"));
    for pattern in [
        "\"scripts/**/*.rhai\"",
        "\"tests/scenarios/**/*.rhai\"",
        "\".rhai/definitions/*.d.rhai\"",
    ] {
        assert!(settings.contains(pattern), "{settings}");
    }

    // Again: the same bytes, nothing rewritten.
    let before: Vec<String> = FILES.iter().map(|f| read(tmp.path(), f)).collect();
    let (code, out) = run(
        tmp.path().parent().unwrap(),
        &["defs", &tmp.path().display().to_string()],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches("unchanged ").count(), 4, "{out}");
    let after: Vec<String> = FILES.iter().map(|f| read(tmp.path(), f)).collect();
    assert_eq!(before, after);
}

#[test]
fn a_hand_edited_settings_file_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let mine = "# my own\n[source]\ninclude = [\"scripts/*.rhai\"]\n";
    std::fs::write(tmp.path().join("Rhai.toml"), mine).unwrap();
    let (code, out) = run(tmp.path(), &["defs", "."]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("kept      Rhai.toml (yours"), "{out}");
    assert!(
        out.contains("note: its [source] include does not take in .rhai/definitions/*.d.rhai"),
        "{out}"
    );
    assert_eq!(read(tmp.path(), "Rhai.toml"), mine);
    assert!(tmp.path().join(FILES[0]).is_file());

    // With the marker line the file is ours again, and brought up to date.
    std::fs::write(
        tmp.path().join("Rhai.toml"),
        "# Written by `moobius-host defs`, an older one\n",
    )
    .unwrap();
    let (code, out) = run(tmp.path(), &["defs"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("wrote     Rhai.toml"), "{out}");
    assert!(read(tmp.path(), "Rhai.toml").contains(".rhai/definitions/*.d.rhai"));
}

#[test]
fn defs_refuses_a_missing_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, out) = run(tmp.path(), &["defs", "nowhere"]);
    assert_eq!(code, 1);
    assert!(out.contains("error: nowhere is not a directory"), "{out}");
}

/// A symlinked `.rhai/definitions` (or `.rhai`) would send the writes
/// outside the service directory: refused, nothing written there.
#[cfg(unix)]
#[test]
fn defs_refuses_a_symlinked_definitions_directory() {
    for link_at in [".rhai/definitions", ".rhai"] {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let link = tmp.path().join(link_at);
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(outside.path(), &link).unwrap();
        let (code, out) = run(tmp.path(), &["defs"]);
        assert_eq!(code, 1, "{link_at}: {out}");
        assert!(out.contains("is a symlink"), "{link_at}: {out}");
        let written: Vec<_> = walk(outside.path());
        assert!(written.is_empty(), "{link_at}: wrote outside: {written:?}");
    }
}

/// Every file under `dir`, at any depth.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn new_writes_the_editor_files_and_keeps_them_tracked() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, out) = run(tmp.path(), &["new", "hello"]);
    assert_eq!(code, 0, "{out}");
    let dir = tmp.path().join("hello");
    for f in FILES {
        assert!(dir.join(f).is_file(), "{f}: {out}");
        assert!(out.contains(&format!("hello/{f}")), "{f}: {out}");
    }
    let ignored = read(&dir, ".gitignore");
    assert!(!ignored.contains(".rhai") && !ignored.contains("Rhai.toml"));
    let (code, out) = run(&dir, &["defs"]);
    assert_eq!(code, 0);
    assert_eq!(out.matches("unchanged ").count(), 4, "{out}");
}

#[test]
fn help_says_what_defs_writes() {
    let (code, out) = run(Path::new("."), &["defs", "--help"]);
    assert_eq!(code, 0);
    for needle in [
        ".rhai/definitions/moobius-host.d.rhai",
        "Rhai.toml",
        "[DIR]",
    ] {
        assert!(out.contains(needle), "{needle}: {out}");
    }
}
