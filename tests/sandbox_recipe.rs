//! docs/SANDBOX.md's recipe, "Running a service on a local sandbox", run
//! as printed: its commands are read from the page (so they cannot drift
//! from it), `moobius-host` is this build and port 8080 a free one; a line
//! ending in `&` runs in the background until the test ends.

mod common;
use common::{binary, repo_root, wait_for};
use std::path::Path;
use std::process::{Child, Command};

const HEADING: &str = "## Running a service on a local sandbox";

/// The lines of the first `sh` block after the recipe's heading.
fn recipe() -> Vec<String> {
    let page = std::fs::read_to_string(repo_root().join("docs/SANDBOX.md")).unwrap();
    let section = page.split_once(HEADING).expect("the recipe's heading").1;
    let block = section.split_once("```sh\n").expect("an sh block").1;
    let block = block.split_once("```").expect("its end").0;
    block.lines().map(str::to_string).collect()
}

/// A background command, stopped when dropped.
struct Background(Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn shell(line: &str, dir: &Path) -> Command {
    let mut cmd = Command::new("sh");
    // `exec`: the process started is the command itself, which the test stops.
    cmd.args(["-c", &format!("exec {line}")])
        .current_dir(dir)
        .env_remove("MOOBIUS_EMAIL")
        .env_remove("MOOBIUS_PASSWORD");
    cmd
}

async fn get_json(url: &str) -> Option<serde_json::Value> {
    reqwest::get(url).await.ok()?.json().await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_recipe_runs_as_printed() {
    if Command::new("curl").arg("--version").output().is_err() {
        return common::skip("curl is not installed");
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port().to_string()
    };
    let base = format!("http://127.0.0.1:{port}/");
    let channels_url = format!("{base}sandbox/channels");
    let dir = tempfile::tempdir().unwrap();
    let lines = recipe();
    assert!(lines.len() >= 5, "{lines:?}");
    let mut background = Vec::new();
    let mut last_output = String::new();
    for line in &lines {
        let line = line
            .replace("moobius-host", binary())
            .replace("8080", &port);
        if let Some(command) = line.strip_suffix('&') {
            let child = shell(command.trim(), dir.path()).spawn().unwrap();
            background.push(Background(child));
            // Waits for what the command is for, as a reader would.
            if command.contains(" sandbox ") {
                wait_for("the sandbox serves", || get_json(&channels_url)).await;
            } else if command.contains(" run ") {
                wait_for("the service serves the lobby", || async {
                    let channels = get_json(&channels_url).await?;
                    let served = channels
                        .as_array()?
                        .iter()
                        .any(|c| c["channel_name"] == "lobby" && c["service_connected"] == true);
                    served.then_some(())
                })
                .await;
            }
            continue;
        }
        let out = shell(&line, dir.path()).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{line}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if line.contains("sandbox/act") {
            assert_eq!(stdout.trim(), r#"{"delivered":true}"#, "{line}");
        }
        last_output = line;
    }
    // The last line shows what alice sees: run as printed until it settles.
    assert!(last_output.contains("sandbox/view"), "{last_output}");
    wait_for("alice sees alice, Meow, bob", || {
        let out = shell(&last_output, dir.path()).output();
        async move {
            let view: serde_json::Value = serde_json::from_slice(&out.ok()?.stdout).ok()?;
            let names: Vec<&str> = view["characters"]
                .as_array()?
                .iter()
                .filter_map(|c| c["name"].as_str())
                .collect();
            (names == ["alice", "Meow", "bob"]).then_some(())
        }
    })
    .await;
    drop(background);
}
