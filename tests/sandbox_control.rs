//! The sandbox's file upload/download and its control API (statuses,
//! errors, members, lost events), over loopback.

mod sandbox_support;

use sandbox_support::{start, Api};
use serde_json::{json, Value};

#[tokio::test]
async fn upload_then_get_and_head() {
    let sandbox = start().await;
    let api = Api::new(&sandbox.http_url());
    let token = api.sign_in("up@example.com", "pw").await;
    let ticket = api
        .ok("GET", "/file/upload?extension=png", &token, None)
        .await;
    let url = ticket["url"].as_str().expect("url").to_string();
    assert!(url.ends_with('/'), "{url}");
    let key = ticket["fields"]["key"].as_str().expect("key").to_string();
    assert!(key.ends_with(".png"));

    let bytes = vec![0x89u8, b'P', b'N', b'G', 1, 2, 3];
    let form = reqwest::multipart::Form::new()
        .text("key", key.clone())
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes.clone())
                .file_name("file")
                .mime_str("application/octet-stream")
                .expect("mime"),
        );
    let posted = api
        .client
        .post(&url)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(posted.status(), 204);

    let file_url = format!("{url}{key}");
    let got = api.client.get(&file_url).send().await.expect("download");
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["content-type"], "image/png");
    assert_eq!(got.bytes().await.expect("body").to_vec(), bytes);
    let head = api.client.head(&file_url).send().await.expect("head");
    assert_eq!(
        head.headers()["content-length"],
        bytes.len().to_string().as_str()
    );

    // A key the sandbox never issued is refused.
    let form = reqwest::multipart::Form::new()
        .text("key", "abc.png")
        .part("file", reqwest::multipart::Part::bytes(vec![1u8]));
    assert_eq!(
        api.client
            .post(&url)
            .multipart(form)
            .send()
            .await
            .expect("upload")
            .status(),
        403
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn control_api_errors_members_and_lost_events() {
    let sandbox = start().await;
    let client = reqwest::Client::new();
    let base = sandbox.http_url();
    let post = |path: &str, body: Value| {
        client
            .post(format!("{base}sandbox/{path}"))
            .json(&body)
            .send()
    };
    // The JSON answer to a control-API POST.
    let post_json = async |path: &str, body: Value| -> Value {
        let answer = post(path, body).await.expect(path);
        answer.json().await.expect("json")
    };

    let alice = post_json("users", json!({"name": "alice"})).await;
    assert_eq!(alice["email"], "alice@sandbox.local");
    let again = post_json("users", json!({"name": "alice"})).await;
    assert_eq!(again, alice, "idempotent per name");
    let channel = post_json("channels", json!({"name": "lobby"})).await;
    let channel = channel["channel_id"]
        .as_str()
        .expect("channel id")
        .to_string();

    for (request, status) in [
        (
            json!({"user": "zed", "channel_id": channel, "action": "join"}),
            404,
        ),
        (
            json!({"user": "alice", "channel_id": "nope", "action": "join"}),
            404,
        ),
        (
            json!({"user": "alice", "channel_id": channel, "action": "dance"}),
            400,
        ),
        (json!({"oops": true}), 400),
    ] {
        let answer = post("act", request.clone()).await.expect("act");
        assert_eq!(answer.status().as_u16(), status, "{request}");
    }

    // No service bound: ground truth changes, the event is lost.
    let joined = post_json(
        "act",
        json!({"user": "alice", "channel_id": channel, "action": "join"}),
    )
    .await;
    assert_eq!(joined, json!({"delivered": false}));
    let by_id = sandbox
        .control()
        .act(
            alice["user_id"].as_str().unwrap_or_default(),
            &channel,
            "refresh",
        )
        .await;
    assert!(matches!(by_id, Ok(false)));
    // The JSON answer to a control-API GET.
    let get_json = async |path: String| -> Value {
        let answer = client.get(format!("{base}sandbox/{path}")).send().await;
        answer.expect(&path).json().await.expect("json")
    };
    let members = get_json(format!("members?channel_id={channel}")).await;
    assert_eq!(
        members,
        json!({"members": [{"character_id": alice["user_id"], "name": "alice"}]})
    );

    let view = get_json(format!("view?user=alice&channel_id={channel}")).await;
    assert_eq!(
        view,
        json!({"characters": [], "buttons": [], "canvas": [], "menu": [], "style": [], "messages": [], "sent": [],
               "channel_info": {"channel_id": channel, "channel_name": "lobby", "channel_description": "", "channel_type": "ccs"},
               "version": 0})
    );
    let missing = client
        .get(format!("{base}sandbox/view?user=alice&channel_id=nope"))
        .send()
        .await
        .expect("view");
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.expect("json error");
    assert!(body["error"].is_string());
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_taken_port_is_a_start_error() {
    let first = start().await;
    let taken = first
        .http_url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("socket address in the URL");
    let second = moobius_host::sandbox::Sandbox::start(moobius_host::sandbox::SandboxOptions {
        listen: taken,
        tls: false,
        ..moobius_host::sandbox::SandboxOptions::default()
    })
    .await;
    assert!(matches!(
        second,
        Err(moobius_host::sandbox::SandboxError::Bind { .. })
    ));
    first.shutdown().await;
}
