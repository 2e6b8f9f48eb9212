//! `moobius-host new NAME`: a service directory that works out of the box,
//! the counterpart of the Python SDK's quick-start generator. Everything it
//! writes is built into the binary, so it works offline and anywhere.

use clap::Args;
use std::path::{Path, PathBuf};

/// Create a new service directory.
///
/// Writes NAME/scripts/service.rhai (the tutorial's service),
/// NAME/resources/avatar.png, NAME/config/config.json (pointing at a local
/// sandbox on 127.0.0.1:8080; the account comes from MOOBIUS_EMAIL and
/// MOOBIUS_PASSWORD), NAME/tests/scenarios/basic.rhai, a README, and what
/// `moobius-host defs` writes for editors (NAME/.rhai/definitions/ and
/// NAME/Rhai.toml). With --example, the service and its scenario tests are
/// that example's instead of the tutorial's. Refuses to write into a
/// directory that exists and is not empty.
#[derive(Args, Debug)]
pub struct NewArgs {
    /// The directory to create (its last component names the service).
    pub name: PathBuf,
    /// Start from this example (scripts/examples/EXAMPLE.rhai in the project)
    /// instead of the tutorial's service.
    #[arg(long, value_name = "EXAMPLE", value_parser = clap::builder::PossibleValuesParser::new(EXAMPLES.map(|e| e.0)))]
    pub example: Option<String>,
}

/// The examples a service can start from: (name, service, scenario tests,
/// the hosts its requests reach). The scenarios run against the example in
/// this project (a `// script:` line names it); in a new directory the
/// example is the service itself, and its config allows what it requests
/// (`test` keeps to `http_allow` as `run` does).
const EXAMPLES: [Example; 6] = [
    example!("meow"),
    example!("groupchat"),
    example!("buttons"),
    example!("menucanvas"),
    example!("countdown"),
    example!("assistant", ["127.0.0.1:8077"]),
];

type Example = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
);

/// `(name, scripts/examples/NAME.rhai, tests/scenarios/NAME.rhai, http_allow)`,
/// built in.
macro_rules! example {
    ($name:literal) => {
        example!($name, [])
    };
    ($name:literal, [$($allow:literal),*]) => {
        (
            $name,
            include_str!(concat!("../../scripts/examples/", $name, ".rhai")),
            include_str!(concat!("../../tests/scenarios/", $name, ".rhai")),
            &[$($allow),*],
        )
    };
}
use example;

const SERVICE: &str = include_str!("../../scripts/service.rhai");
const AVATAR: &[u8] = include_bytes!("../../resources/avatar.png");

const CONFIG: &str = r#"{
  "account_config": {
    "email": "",
    "password": ""
  },
  "service_config": {
    "http_server_uri": "http://127.0.0.1:8080/",
    "ws_server_uri": "ws://127.0.0.1:8080/ws",
    "service_id": "",
    "channels": [],
    "others": "include",
    "checkin_interval": 3600,
    "service_mode": true
  },
  "log_config": {
    "terminal_log_level": "INFO"
  },
  "db_config": [
    {"name": "state", "implementation": "embedded"}
  ]
}
"#;

const SCENARIO: &str = r#"// Scenario tests for scripts/service.rhai: `moobius-host test`.
// Each test_* function runs against a fresh local sandbox and host.

fn test_alice_sees_herself_and_meow() {
    let alice = member("alice");
    alice.join();
    assert_eq(alice.sees(), ["alice", "Meow"]);
}

fn test_bob_joins_and_both_see_each_other() {
    let alice = member("alice");
    let bob = member("bob");
    alice.join();
    bob.join();
    assert_eq(alice.sees(), ["alice", "Meow", "bob"]);
    assert_eq(bob.sees(), ["bob", "Meow", "alice"]);
    bob.leave();
    assert_eq(alice.sees(), ["alice", "Meow"]);
}
"#;

fn readme(name: &str, example: Option<&str>) -> String {
    let service = match example {
        Some(e) => format!("the `{e}` example: its first comment says what it does"),
        None => "every member sees themself, then the\n  agent Meow, then the others".into(),
    };
    format!(
        r#"# {name}

A Moobius Custom Channel Service written in Rhai, run by `moobius-host`.

- `scripts/service.rhai`: the service ({service}).
- `resources/avatar.png`: Meow's avatar.
- `tests/scenarios/*.rhai`: scenario tests.
- `config/config.json`: where `moobius-host run` connects (the Python SDK's
  shape).
- `.rhai/definitions/*.d.rhai` and `Rhai.toml`: for editors that run the
  Rhai language server: completion and documentation of every host
  function, handler and scenario function. Written by `moobius-host defs`;
  run it again after upgrading moobius-host.

## Develop

```sh
moobius-host dev     # local sandbox + simulated members + the dev page
moobius-host test    # the scenario tests
moobius-host check   # compile and lint without running
```

## Run

The config points at a local sandbox (`moobius-host sandbox --listen
127.0.0.1:8080`). The account is not in the file: set it in the environment,

```sh
export MOOBIUS_EMAIL=you@example.com MOOBIUS_PASSWORD=...
moobius-host run
```

For the real platform, set `http_server_uri` and `ws_server_uri` to the
platform's (or remove them for the defaults) and list your channel ids in
`channels`.

## State that outlives a restart

`this` is kept across hot reloads but not restarts; keep what must last in
a store: `let s = store(channel_id, "state"); s.round = 1;`. `db_config`
in `config/config.json` lists the stores: `embedded` (on disk in `data/`,
the default), `memory`, or `redis` (with `"redis_url"`, to share it between
hosts). A store it does not list is embedded too, and `moobius-host check`
warns about its name in case it is a typo. In a scenario test, `restart()`
restarts the host with its stores kept.
"#
    )
}

fn write(root: &Path, rel: &str, bytes: &[u8]) -> std::io::Result<()> {
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, bytes)
}

/// An example's scenario file for a directory where the example is the
/// service: without the `// script:` line that points at the example.
fn scenario_for_service(scenario: &str) -> String {
    let kept: Vec<&str> = scenario
        .lines()
        .skip_while(|l| l.starts_with("// script:") || l.trim() == "//")
        .collect();
    format!(
        "// Scenario tests for scripts/service.rhai: `moobius-host test`.\n//\n{}\n",
        kept.join("\n")
    )
}

fn scaffold(root: &Path, name: &str, example: Option<&str>) -> std::io::Result<()> {
    let chosen = EXAMPLES.iter().find(|(n, ..)| Some(*n) == example);
    match chosen {
        Some((n, service, scenario, _)) => {
            write(root, "scripts/service.rhai", service.as_bytes())?;
            let tests = scenario_for_service(scenario);
            write(root, &format!("tests/scenarios/{n}.rhai"), tests.as_bytes())?;
        }
        None => {
            write(root, "scripts/service.rhai", SERVICE.as_bytes())?;
            write(root, "tests/scenarios/basic.rhai", SCENARIO.as_bytes())?;
        }
    }
    write(root, "resources/avatar.png", AVATAR)?;
    let allow = chosen.map_or(&[][..], |c| c.3);
    write(
        root,
        "config/config.json",
        config_allowing(allow).as_bytes(),
    )?;
    write(
        root,
        "README.md",
        readme(name, chosen.map(|c| c.0)).as_bytes(),
    )?;
    // What a running service writes: downloads, store files, the admin
    // endpoint's token and URL, log files.
    write(root, ".gitignore", b"downloads/\ndata/\nlogs/\n")
}

/// The scaffold's config, with `http_allow` when the example needs one.
fn config_allowing(hosts: &[&str]) -> String {
    if hosts.is_empty() {
        return CONFIG.to_string();
    }
    let list: Vec<String> = hosts.iter().map(|h| format!("\"{h}\"")).collect();
    CONFIG.replace(
        "    \"service_mode\": true\n",
        &format!(
            "    \"service_mode\": true,\n    \"http_allow\": [{}]\n",
            list.join(", ")
        ),
    )
}

pub fn main(args: NewArgs) -> u8 {
    let root = &args.name;
    let occupied = std::fs::read_dir(root).is_ok_and(|mut d| d.next().is_some());
    if occupied || root.is_file() {
        eprintln!(
            "error: {} already exists and is not empty; choose another name",
            root.display()
        );
        return 1;
    }
    let name = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "service".into());
    if let Err(e) = scaffold(root, &name, args.example.as_deref()) {
        eprintln!("error: cannot create {}: {e}", root.display());
        return 1;
    }
    let editor_files = match moobius_host::editor::write_editor_files(root) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    println!("created {}", root.display());
    super::defs::report(root, &editor_files);
    println!();
    println!("next steps:");
    println!(
        "  cd {} && moobius-host dev   # try it with simulated members",
        root.display()
    );
    println!("  moobius-host test             # run tests/scenarios/*.rhai");
    0
}
