//! The example services in `scripts/examples/`, each driven through the
//! sandbox by simulated members and checked through their views: who
//! received which message from whom, which buttons each sees.

mod common;
use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groupchat_roles_decide_who_hears_whom() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = lobby(&sandbox, &["alice", "bob", "carol"]).await;
    let svc = ServiceDir::with_script(&sandbox, &[&ch], &example("groupchat"));
    svc.set_config_key("db_config", json!([{"name": "roles"}]));
    let _host = svc.run_host();
    for m in ["alice", "bob", "carol"] {
        wait_sees(&c, m, &ch, &["alice", "bob", "carol"]).await;
        wait_buttons(&c, m, &ch, &["default", "quiet", "vip"]).await;
    }
    let everyone = ["alice", "bob", "carol"];
    click(&c, "bob", &ch, json!({"button_id": "quiet"})).await;
    click(&c, "carol", &ch, json!({"button_id": "vip"})).await;

    say(&c, "alice", &ch, "hi all", &everyone).await;
    wait_message(&c, "carol", &ch, "alice", "hi all").await;
    wait_message(&c, "alice", &ch, "alice", "hi all").await;
    assert!(inbox(&c, "bob", &ch).is_empty(), "bob hears nothing");

    say(&c, "carol", &ch, "vips only", &everyone).await;
    wait_message(&c, "carol", &ch, "carol", "vips only").await;

    click(&c, "alice", &ch, json!({"button_id": "vip"})).await;
    click(&c, "bob", &ch, json!({"button_id": "default"})).await;
    say(&c, "carol", &ch, "secret", &everyone).await;
    say(&c, "bob", &ch, "hello?", &["alice", "carol"]).await;
    wait_message(&c, "alice", &ch, "carol", "secret").await;
    wait_message(&c, "carol", &ch, "bob", "hello?").await;
    wait_message(&c, "alice", &ch, "bob", "hello?").await;
    assert_eq!(
        inbox(&c, "alice", &ch),
        [
            ("alice".into(), "hi all".into()),
            ("carol".into(), "secret".into()),
            ("bob".into(), "hello?".into())
        ]
    );
    assert_eq!(
        inbox(&c, "bob", &ch),
        Vec::<(String, String)>::new(),
        "bob was not an intended recipient of his own message"
    );
    assert_eq!(inbox(&c, "carol", &ch).len(), 4);

    // Joins and leaves refresh everyone's member list.
    c.create_user("dave");
    c.act("dave", &ch, "join").await.unwrap();
    wait_sees(&c, "alice", &ch, &["alice", "bob", "carol", "dave"]).await;
    c.act("bob", &ch, "leave").await.unwrap();
    wait_sees(&c, "dave", &ch, &["alice", "carol", "dave"]).await;
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buttons_answer_with_what_was_clicked_and_chosen() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = lobby(&sandbox, &["alice"]).await;
    let svc = ServiceDir::with_script(&sandbox, &[&ch], &example("buttons"));
    let _host = svc.run_host();
    wait_sees(&c, "alice", &ch, &["alice", "Button Bot"]).await;
    wait_buttons(&c, "alice", &ch, &["hello", "fruit", "confirm"]).await;
    let view = c.view("alice", &ch).unwrap();
    assert_eq!(
        view.buttons[1]["dialog"]["components"][0]["choices"],
        json!(["apple", "banana", "cherry"])
    );
    assert_eq!(
        view.buttons[2]["dialog"]["bottom_buttons"][1],
        json!({"id": "no", "text": "No", "submit": false})
    );

    click(&c, "alice", &ch, json!({"button_id": "hello"})).await;
    wait_message(&c, "alice", &ch, "Button Bot", "You clicked hello").await;
    click(&c, "alice", &ch, json!({"button_id": "fruit", "arguments": [{"label": "Fruit", "value": "banana"}, {"label": "Note", "value": "ripe"}]})).await;
    wait_message(
        &c,
        "alice",
        &ch,
        "Button Bot",
        "You clicked fruit and chose Fruit=banana, Note=ripe",
    )
    .await;
    click(
        &c,
        "alice",
        &ch,
        json!({"button_id": "confirm", "bottom_button_id": "yes"}),
    )
    .await;
    wait_message(
        &c,
        "alice",
        &ch,
        "Button Bot",
        "You clicked confirm (with yes)",
    )
    .await;
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn menucanvas_shows_canvas_style_menu_and_answers_menu_clicks() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = lobby(&sandbox, &["alice", "bob"]).await;
    let svc = ServiceDir::with_script(&sandbox, &[&ch], &example("menucanvas"));
    let _host = svc.run_host();
    wait_sees(&c, "alice", &ch, &["alice", "bob", "Guide"]).await;
    let view =
        wait_for("canvas, style and menu", || {
            let v = c.view("alice", &ch).unwrap();
            async move {
                (!v.canvas.is_empty() && !v.style.is_empty() && !v.menu.is_empty()).then_some(v)
            }
        })
        .await;
    assert_eq!(
        view.canvas[0]["text"],
        "Welcome! Right-click a message to see the menu."
    );
    let image = view.canvas[1]["path"].as_str().unwrap();
    let bytes = reqwest::get(image).await.unwrap().bytes().await.unwrap();
    assert_eq!(
        bytes.as_ref(),
        std::fs::read(repo_root().join("resources/avatar.png"))
            .unwrap()
            .as_slice()
    );
    assert_eq!(
        view.style[0],
        json!({"widget": "canvas", "display": "visible", "expand": true, "button_id": null, "text": null})
    );
    let items: Vec<&str> = view
        .menu
        .iter()
        .filter_map(|m| m["menu_item_id"].as_str())
        .collect();
    assert_eq!(items, ["quote", "save", "info"]);

    say(&c, "alice", &ch, "hello bob", &["bob"]).await;
    wait_message(&c, "bob", &ch, "alice", "hello bob").await;
    assert!(
        inbox(&c, "alice", &ch).is_empty(),
        "echoed to the intended recipients only"
    );
    let message_id = c.view("bob", &ch).unwrap().messages[0].message_id.clone();
    let fields = json!({"menu_item_id": "quote", "message_id": message_id});
    assert!(c
        .act_json("bob", &ch, "menu_item_click", fields.as_object().unwrap())
        .await
        .unwrap());
    wait_message(&c, "bob", &ch, "Guide", "quote: hello bob").await;
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meow_appends_lol_answers_meow_and_welcomes_joiners() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = lobby(&sandbox, &["alice"]).await;
    let svc = ServiceDir::with_script(&sandbox, &[&ch], &example("meow"));
    let _host = svc.run_host();
    wait_sees(&c, "alice", &ch, &["Meow", "alice"]).await;
    c.create_user("bob");
    c.act("bob", &ch, "join").await.unwrap();
    for m in ["alice", "bob"] {
        wait_message(&c, m, &ch, "bob", "Hello everyone!").await;
        wait_message(&c, m, &ch, "Meow", "Welcome, bob! Meow~").await;
    }
    say(&c, "alice", &ch, "meow", &["alice", "bob"]).await;
    wait_message(&c, "bob", &ch, "alice", "meow lol~").await;
    wait_message(&c, "alice", &ch, "Meow", "Meow meow!").await;
    say(&c, "bob", &ch, "good morning", &["alice"]).await;
    wait_message(&c, "alice", &ch, "bob", "good morning lol~").await;
    assert!(
        !inbox(&c, "bob", &ch)
            .iter()
            .any(|(f, t)| f == "Meow" && t == "Meow meow!"),
        "Meow answers only who said meow"
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_to_a_thousand_members_is_one_small_frame() {
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let names: Vec<String> = (0..1000).map(|i| format!("m{i:04}")).collect();
    let mut all: Vec<&str> = names.iter().map(String::as_str).collect();
    all.extend(["alice", "outsider"]);
    let ch = lobby(&sandbox, &all).await;
    let echo = "fn on_message_up(message) { send_message(message); }\n";
    let svc = ServiceDir::with_script(&sandbox, &[&ch], echo);
    let _host = svc.run_host();
    wait_served(&c, &ch).await;
    let recipients: Vec<&str> = names.iter().map(String::as_str).collect();
    say(&c, "alice", &ch, "to the thousand", &recipients).await;
    wait_for("every recipient has the message", || {
        let done = names.iter().all(|n| inbox(&c, n, &ch).len() == 1);
        async move { done.then_some(()) }
    })
    .await;
    for n in &names {
        assert_eq!(
            inbox(&c, n, &ch),
            [("alice".to_string(), "to the thousand".to_string())]
        );
    }
    assert!(inbox(&c, "outsider", &ch).is_empty());
    assert!(inbox(&c, "alice", &ch).is_empty());
    let frames = &c.stats().frames["message_down"];
    assert_eq!(frames.count, 1);
    assert!(
        frames.max_bytes < 1024,
        "one group id, not 1,000 ids: {} bytes",
        frames.max_bytes
    );
    sandbox.shutdown().await;
}

/// The assistant's API for the test: holds each answer until the test lets
/// it go, and answers `{"answer": "You asked: <question>"}`.
async fn held_answer(
    axum::extract::State(gate): axum::extract::State<tokio::sync::watch::Receiver<bool>>,
    axum::Json(asked): axum::Json<serde_json::Value>,
) -> axum::Json<serde_json::Value> {
    let mut gate = gate.clone();
    let _ = gate.wait_for(|open| *open).await;
    axum::Json(
        json!({"answer": format!("You asked: {}", asked["question"].as_str().unwrap_or(""))}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_assistant_answers_later_while_others_are_served() {
    let (open, gate) = tokio::sync::watch::channel(false);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let api = axum::Router::new()
        .route("/v1/answer", axum::routing::post(held_answer))
        .with_state(gate);
    let server = tokio::spawn(async move { axum::serve(listener, api).await });
    let script = example("assistant").replace("127.0.0.1:8077", &format!("127.0.0.1:{port}"));
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let (ch, _svc, _host) = lobby_with_host(&sandbox, &["alice", "bob"], |ch| {
        let svc = ServiceDir::with_script(&sandbox, &[ch], &script);
        svc.set_service_key("http_allow", json!([format!("127.0.0.1:{port}")]));
        svc
    })
    .await;
    refresh_until(&c, "alice", &ch, &["Assistant", "alice", "bob"]).await;
    say(&c, "alice", &ch, "@assistant what time is it?", &["alice"]).await;
    // The question is on its way; bob is served meanwhile.
    assert!(refresh_answered(&c, "bob", &ch, "bob's refresh is answered").await);
    assert!(inbox(&c, "alice", &ch)
        .iter()
        .all(|(from, _)| from != "Assistant"));
    open.send(true).unwrap();
    wait_message(&c, "alice", &ch, "Assistant", "You asked: what time is it?").await;
    server.abort();
}
