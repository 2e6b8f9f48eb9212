//! The sandbox's TLS listener: HTTPS and WSS with a certificate signed by a
//! CA generated at start, which a client must explicitly trust.

mod sandbox_support;

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use sandbox_support::{start_on_loopback, Ws};
use serde_json::{json, Value};
use tokio_tungstenite::Connector;

#[tokio::test]
async fn wss_and_https_work_for_a_client_trusting_the_ca() {
    let sandbox = start_on_loopback(true).await;
    let ready = sandbox.ready_info();
    let ca_path = ready.ca_pem.clone().expect("CA file");
    let wss = ready.wss.clone().expect("wss url");
    let https = ready.https.clone().expect("https url");
    assert!(
        wss.starts_with("wss://127.0.0.1:") && wss.ends_with("/ws"),
        "{wss}"
    );
    assert_ne!(https, sandbox.http_url());
    let printed = serde_json::to_value(&ready).expect("serialisable");
    assert_eq!(printed["http"], sandbox.http_url());

    let ca_pem = std::fs::read(&ca_path).expect("CA readable");
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&ca_pem) {
        roots
            .add(cert.expect("PEM certificate"))
            .expect("CA accepted");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = Connector::Rustls(Arc::new(config));
    let (stream, _) =
        tokio_tungstenite::connect_async_tls_with_config(&wss, None, false, Some(connector))
            .await
            .expect("wss handshake with the generated CA");
    let mut ws = Ws::from_stream(stream);
    ws.send(json!({"type": "heartbeat", "request_id": "tls-hb", "body": {}}))
        .await;
    assert_eq!(ws.ack_of("tls-hb").await["body"]["status"], true);

    // HTTPS serves the same API, and upload tickets point at the HTTPS base.
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca_pem).expect("CA for reqwest"))
        .build()
        .expect("client");
    let signed: Value = client
        .post(format!("{https}auth/sign_in"))
        .json(&json!({"username": "t@example.com", "password": "pw"}))
        .send()
        .await
        .expect("https request")
        .json()
        .await
        .expect("envelope");
    let token = signed["data"]["AuthenticationResult"]["AccessToken"]
        .as_str()
        .expect("token");
    let ticket: Value = client
        .get(format!("{https}file/upload?extension=txt"))
        .bearer_auth(token)
        .send()
        .await
        .expect("ticket")
        .json()
        .await
        .expect("envelope");
    assert_eq!(ticket["data"]["url"], format!("{https}files/"));

    // A client without the CA is refused.
    let untrusted = reqwest::Client::new()
        .get(format!("{https}channel/popular"))
        .send()
        .await;
    assert!(untrusted.is_err());

    sandbox.shutdown().await;
    assert!(
        !ca_path.exists(),
        "the private directory is removed at shutdown"
    );
}
