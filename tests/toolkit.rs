//! The rest of the script API against the real sandbox: renaming agents,
//! image and file messages from local files, downloads, channel info, channel
//! list and creation, message history.

mod common;
use common::*;

const SCRIPT: &str = r#"
fn before_channel_init() { this.bot = create_agent("Bot", "resources/avatar.png"); }
fn reply(m, text) { send_message(text, m.channel_id, this.bot, m.sender); }
fn on_message_up(m) {
    let t = m.content.text;
    if t == "rename" {
        this.bot = update_agent(this.bot, #{ name: "Robot" });
        send_characters([m.sender, this.bot], m.channel_id, m.sender);
        this.reply(m, `now ${this.bot.name}`);
    } else if t == "image" {
        send_message(#{ path: "resources/avatar.png", channel_id: m.channel_id, sender: this.bot, recipients: m.sender });
    } else if t == "file" {
        send_message(#{ path: "resources/notes.txt", file_display_name: "notes", channel_id: m.channel_id, sender: this.bot, recipients: [m.sender] });
    } else if t == "download" {
        let bytes = download(this.bot.avatar);
        let saved = download(this.bot.avatar, "copy.png");
        this.reply(m, `${bytes.len()} bytes, saved as ${saved}`);
    } else if t == "info" {
        update_channel_info(m.channel_id, #{ channel_name: "Renamed lobby", channel_description: "by a script" });
    } else if t == "create" {
        let id = create_channel("second", "made by a script");
        let count = fetch_channel_list().len();
        this.reply(m, `created, ${count} channel(s)`);
    } else if t == "history" {
        this.reply(m, `history ${fetch_message_history(m.channel_id, 2).len()}`);
    } else {
        this.reply(m, `unknown ${t}`);
    }
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rest_of_the_toolkit_works_against_the_sandbox() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = lobby(&sandbox, &["alice"]).await;
    let svc = ServiceDir::with_script(&sandbox, &[&ch], SCRIPT);
    // The sandbox serves the files on loopback, reached only when listed.
    svc.set_service_key(
        "http_allow",
        serde_json::json!([host_port(&sandbox.http_url())]),
    );
    std::fs::write(svc.path().join("resources/notes.txt"), "twelve bytes").unwrap();
    let _host = svc.run_host();
    wait_served(&c, &ch).await;
    let avatar = std::fs::read(repo_root().join("resources/avatar.png")).unwrap();

    say(&c, "alice", &ch, "rename", &["alice"]).await;
    wait_message(&c, "alice", &ch, "Robot", "now Robot").await;
    wait_sees(&c, "alice", &ch, &["alice", "Robot"]).await;

    say(&c, "alice", &ch, "image", &["alice"]).await;
    say(&c, "alice", &ch, "file", &["alice"]).await;
    let messages = wait_for("the image and the file", || {
        let v = c.view("alice", &ch).unwrap();
        async move { (v.messages.len() >= 3).then_some(v.messages) }
    })
    .await;
    assert_eq!(messages[1].subtype, "image");
    let image = reqwest::get(messages[1].content["path"].as_str().unwrap())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        image.as_ref(),
        avatar.as_slice(),
        "the local image was uploaded and is served"
    );
    assert_eq!(messages[2].subtype, "file");
    assert_eq!(messages[2].content["filename"], "notes");
    assert_eq!(messages[2].content["size"], 12);

    say(&c, "alice", &ch, "download", &["alice"]).await;
    wait_message(
        &c,
        "alice",
        &ch,
        "Robot",
        &format!("{} bytes, saved as downloads/copy.png", avatar.len()),
    )
    .await;
    assert_eq!(
        std::fs::read(svc.path().join("downloads/copy.png")).unwrap(),
        avatar
    );

    say(&c, "alice", &ch, "info", &["alice"]).await;
    wait_for("the new channel name", || {
        let name = c.view("alice", &ch).unwrap().channel_info.channel_name;
        async move { (name == "Renamed lobby").then_some(()) }
    })
    .await;

    say(&c, "alice", &ch, "create", &["alice"]).await;
    wait_message(&c, "alice", &ch, "Robot", "created, 1 channel(s)").await;
    assert!(
        c.channels()
            .iter()
            .any(|s| s.channel_name == "second" && s.service_id.is_some()),
        "created and bound"
    );

    say(&c, "alice", &ch, "history", &["alice"]).await;
    wait_message(&c, "alice", &ch, "Robot", "history 2").await;
    sandbox.shutdown().await;
}
