//! Decision events: what the violation monitor receives.

mod common;

use common::*;
use srt_policy::{DenyCode, NetDecision};
use srt_proxy::{StaticResolver, Via};

#[tokio::test]
async fn each_denial_is_one_event_and_allows_only_in_debug() {
    let echo = echo_server("127.0.0.1:0").await.unwrap();
    let settings = format!(
        r#"{{"network":{{"allowedDomains":["127.0.0.1:{}"],"deniedDomains":["pastebin.com"],
            "deniedDomainReasons":{{"pastebin.com":"paste sites are blocked"}}}}}}"#,
        echo.port()
    );
    let mut quiet = Proxy::start(&settings, StaticResolver::new()).await;
    let (_, head) = connect(quiet.http, &echo.to_string()).await;
    assert_eq!(head.status, 200);
    let (_, head) = connect(quiet.http, "pastebin.com:443").await;
    assert_eq!(head.status, 403);
    let ev = quiet.event().await;
    assert_eq!(ev.target(), "pastebin.com:443");
    assert_eq!(ev.via, Via::Connect);
    assert_eq!(
        ev.decision,
        NetDecision::Deny {
            code: DenyCode::Allowlist,
            rule: Some("pastebin.com".into()),
            reason: "paste sites are blocked".into()
        }
    );
    quiet.no_more_events();

    let mut loud = Proxy::start_with(&settings, StaticResolver::new(), true).await;
    let (_, head) = connect(loud.http, &echo.to_string()).await;
    assert_eq!(head.status, 200);
    let ev = loud.event().await;
    assert_eq!(ev.decision, NetDecision::Allow { rule: format!("127.0.0.1:{}", echo.port()) });
    assert_eq!(ev.address, Some(echo.ip()));
}

#[tokio::test]
async fn ipv6_targets_are_bracketed() {
    let mut p = Proxy::start(r#"{"network":{"allowedDomains":["example.com"]}}"#, StaticResolver::new()).await;
    let (_, head) = connect(p.http, "[2001:db8::1]:443").await;
    assert_eq!(head.status, 403);
    let ev = p.event().await;
    assert_eq!(ev.host, "2001:db8::1");
    assert_eq!(ev.target(), "[2001:db8::1]:443");
}

#[tokio::test]
async fn a_full_event_channel_drops_and_counts_instead_of_growing() {
    let mut p =
        Proxy::start_tweaked(r#"{"network":{"allowedDomains":["example.com"]}}"#, StaticResolver::new(), 1, |_| {})
            .await;
    for i in 0..3 {
        let (_, head) = connect(p.http, &format!("denied{i}.test:443")).await;
        assert_eq!(head.status, 403);
    }
    assert_eq!(p.cfg.dropped_events(), 2);
    assert_eq!(p.event().await.host, "denied0.test");
}
