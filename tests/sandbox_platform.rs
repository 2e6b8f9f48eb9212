//! The sandbox's platform HTTP API (accounts, services, agents, groups), exercised
//! over loopback as the SDK and the host would.

mod sandbox_support;

use sandbox_support::{start, Api};
use serde_json::{json, Value};

#[tokio::test]
async fn sign_in_creates_accounts_and_checks_passwords() {
    let sandbox = start().await;
    let api = Api::new(&sandbox.http_url());
    let token = api.sign_in("bob@example.com", "pw1").await;

    let wrong = api
        .call(
            "POST",
            "/auth/sign_in",
            None,
            Some(json!({"username": "bob@example.com", "password": "nope"})),
        )
        .await;
    assert_ne!(wrong["code"], 10000);
    let again = api.sign_in("bob@example.com", "pw1").await;
    assert_ne!(again, token);

    let info = api.ok("GET", "/user/info", &token, None).await;
    assert_eq!(info["email"], "bob@example.com");
    assert_eq!(info["context"]["name"], "bob");
    assert!(info["system_context"].is_object());

    // Refresh gives a new token and keeps the old one valid.
    let envelope = api
        .call(
            "POST",
            "/auth/sign_in",
            None,
            Some(json!({"username": "bob@example.com", "password": "pw1"})),
        )
        .await;
    let refresh_token = envelope["data"]["AuthenticationResult"]["RefreshToken"].clone();
    let refreshed = api
        .call(
            "POST",
            "/auth/refresh",
            None,
            Some(json!({"username": "bob@example.com", "refresh_token": refresh_token})),
        )
        .await;
    let fresh = refreshed["data"]["AuthenticationResult"]["AccessToken"]
        .as_str()
        .expect("new access token")
        .to_string();
    api.ok("GET", "/service/list", &fresh, None).await;
    api.ok("GET", "/service/list", &token, None).await;

    // Sign-out invalidates; a missing or bad token is refused.
    api.ok(
        "POST",
        "/auth/sign_out",
        &token,
        Some(json!({"access_token": token})),
    )
    .await;
    let refused = api.call("GET", "/service/list", Some(&token), None).await;
    assert_eq!(refused["code"], 40001);
    let anonymous = api.call("GET", "/service/list", None, None).await;
    assert_eq!(anonymous["code"], 40001);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn services_bind_and_list_with_sloppy_paths() {
    let sandbox = start().await;
    let api = Api::new(&sandbox.http_url());
    let owner = api.sign_in("owner@example.com", "pw").await;
    let other = api.sign_in("other@example.com", "pw").await;

    let first = api
        .ok(
            "POST",
            "/service/create",
            &owner,
            Some(json!({"description": "x"})),
        )
        .await["service_id"]
        .clone();
    let second = api.ok("POST", "/service/create", &owner, None).await["service_id"].clone();
    let channel = api
        .ok(
            "POST",
            "/channel/create",
            &owner,
            Some(json!({"channel_name": "lobby", "context": {"channel_description": "d"}})),
        )
        .await["channel_id"]
        .clone();

    api.ok(
        "POST",
        "/service/bind",
        &owner,
        Some(json!({"channel_id": channel, "service_id": first})),
    )
    .await;
    let listed = api.ok("GET", "//service//list/", &owner, None).await;
    assert_eq!(
        listed,
        json!([{"service_id": first, "channel_ids": [channel]}, {"service_id": second, "channel_ids": []}])
    );

    // Binding another service replaces the first; unbind clears it.
    api.ok(
        "POST",
        "/service/bind",
        &owner,
        Some(json!({"channel_id": channel, "service_id": second})),
    )
    .await;
    let listed = api.ok("GET", "/service/list", &owner, None).await;
    assert_eq!(listed[0]["channel_ids"], json!([]));
    assert_eq!(listed[1]["channel_ids"], json!([channel]));
    api.ok(
        "POST",
        "/service/unbind",
        &owner,
        Some(json!({"channel_id": channel, "service_id": second})),
    )
    .await;
    assert_eq!(
        api.ok("GET", "/service/list", &owner, None).await[1]["channel_ids"],
        json!([])
    );

    // Another account sees none of these and cannot bind them.
    assert_eq!(
        api.ok("GET", "/service/list", &other, None).await,
        json!([])
    );
    let refused = api
        .call(
            "POST",
            "/service/bind",
            Some(&other),
            Some(json!({"channel_id": channel, "service_id": first})),
        )
        .await;
    assert_eq!(refused["code"], 40003);

    // The creator is a member; channel listings carry ids and names.
    let members = api
        .ok(
            "GET",
            &format!(
                "/channel/character_list?channel_id={}&service_id={}",
                channel.as_str().unwrap_or_default(),
                first.as_str().unwrap_or_default()
            ),
            &owner,
            None,
        )
        .await;
    let me = api.ok("GET", "/user/info", &owner, None).await["user_id"].clone();
    assert_eq!(members["character_list"], json!([me]));
    assert_eq!(
        api.ok("GET", "/channel/list", &owner, None).await[0]["channel_name"],
        "lobby"
    );
    assert_eq!(
        api.ok("GET", "/channel/list", &other, None).await,
        json!([])
    );
    assert_eq!(
        api.ok("GET", "/channel/popular", &other, None).await[0]["channel_id"],
        channel
    );
    // A GET carrying a JSON body, with its query pasted into the path.
    let history = api
        .call(
            "GET",
            &format!(
                "/channel/history_message?channel_id={}&limit=5&before=null",
                channel.as_str().unwrap_or_default()
            ),
            Some(&owner),
            Some(json!({"limit": "5"})),
        )
        .await;
    assert_eq!(history["data"], json!([]));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn agents_profiles_and_groups() {
    let sandbox = start().await;
    let api = Api::new(&sandbox.http_url());
    let token = api.sign_in("svc@example.com", "pw").await;
    let me = api.ok("GET", "/user/info", &token, None).await["user_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let service = api.ok("POST", "/service/create", &token, None).await["service_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    let agent = api
        .ok("POST", "/service/character/create", &token, Some(json!({"service_id": service, "context": {"name": "Meow", "avatar": "https://x/a.png", "description": "a cat"}})))
        .await;
    assert_eq!(
        agent["character_context"],
        json!({"name": "Meow", "avatar": "https://x/a.png", "description": "a cat"})
    );
    let agent_id = agent["character_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let listed = api
        .ok(
            "GET",
            &format!("/service/character/list?service_id={service}"),
            &token,
            None,
        )
        .await;
    assert_eq!(listed, json!([agent]));
    let updated = api
        .ok("POST", "/service/character/update", &token, Some(json!({"service_id": service, "character_id": agent_id, "context": {"name": "Purr", "avatar": null, "description": "x"}})))
        .await;
    assert_eq!(updated["character_context"]["name"], "Purr");
    assert_eq!(updated["character_context"]["avatar"], Value::Null);

    let profiles = api
        .ok(
            "POST",
            "/character/fetch_profile",
            &token,
            Some(json!({"character_list": [me, "nobody", agent_id]})),
        )
        .await;
    assert_eq!(profiles.as_array().map(Vec::len), Some(2));
    assert_eq!(profiles[0]["character_context"]["name"], "svc");
    assert_eq!(profiles[1]["character_id"], agent_id.as_str());

    // Service groups: data is the id itself, resolvable through /user/group.
    let group = api
        .ok(
            "POST",
            "/service/group/create",
            &token,
            Some(json!({"group_id": "", "characters": [agent_id, me]})),
        )
        .await;
    let group = group
        .as_str()
        .expect("data is the group id string")
        .to_string();
    let expanded = api
        .ok(
            "GET",
            &format!("/user/group?group_id={group}&channel_id=c&user_id={me}"),
            &token,
            None,
        )
        .await;
    assert_eq!(expanded["characters"], json!([agent_id, me]));
    assert_eq!(
        api.ok(
            "GET",
            &format!("/service/group?group_id={group}"),
            &token,
            None
        )
        .await["characters"],
        json!([agent_id, me])
    );
    assert_eq!(
        api.ok(
            "GET",
            "/user/group?group_id=service&channel_id=c&user_id=u",
            &token,
            None
        )
        .await["characters"],
        json!([])
    );

    let channel = sandbox.control().create_channel("lobby");
    let user_group = api
        .ok(
            "POST",
            "/user/group/create",
            &token,
            Some(json!({"channel_id": channel, "group_name": "g", "characters": [me]})),
        )
        .await["group_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let groups = api
        .ok(
            "GET",
            &format!("/user/group/list?channel_id={channel}&service_id={service}"),
            &token,
            None,
        )
        .await;
    assert_eq!(
        groups,
        json!([{"group_id": user_group, "characters": [me]}])
    );

    let stats = sandbox.control().stats();
    assert_eq!(stats.groups_created, 2);
    assert_eq!(stats.requests.get("POST /service/group/create"), Some(&1));
    let over_http: Value = api
        .client
        .get(format!("{}sandbox/stats", api.base))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert_eq!(over_http["groups_created"], 2);
    sandbox.shutdown().await;
}
