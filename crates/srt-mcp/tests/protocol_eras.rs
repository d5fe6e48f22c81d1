//! Both protocol eras over stdio: a 2025-11-25 client opens with
//! `initialize`; a 2026-07-28 client sends requests directly, carrying its
//! protocol version and capabilities in `_meta`.

use std::io::Write;

mod common;
use common::*;

fn srt_mcp(input: &str) -> String {
    let mut child = spawn_stdio(&[]);
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn new_era_request_without_initialize() {
    let out = srt_mcp(concat!(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"execute_code","arguments":{"code":"print(6*7)"},"#,
        r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#,
        "\n"
    ));
    let v: serde_json::Value = serde_json::from_str(out.lines().next().unwrap_or("{}")).unwrap();
    assert_eq!(v["result"]["structuredContent"]["stdout"], "42\n", "{out}");
    assert_eq!(v["result"]["isError"], false);
}

#[test]
fn old_era_initialize_then_list() {
    let out = srt_mcp(concat!(
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
        "\n",
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        "\n",
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}"#,
        "\n"
    ));
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[0]["result"]["protocolVersion"], "2025-11-25", "{out}");
    let tools: Vec<&str> =
        lines[1]["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    for t in ["execute_code", "execute_code_with_custom_config", "discover_sandbox_config"] {
        assert!(tools.contains(&t), "{tools:?}");
    }
}

/// Issue 14: over stdio, a message larger than 4 MiB or nested too deeply
/// gets a JSON-RPC error (it was dropped, and the client waited forever),
/// and the next message is answered as usual.
#[test]
fn oversized_and_malformed_messages_get_an_error() {
    let big = tool_call(1, "execute_code", serde_json::json!({"code": format!("#{}", "x".repeat(5 << 20))}));
    let deep = format!(
        r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{}{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let ok = tool_call(3, "execute_code", serde_json::json!({"code": "print(3)"}));
    let out = srt_mcp(&format!("{big}\n{deep}\n{ok}\n"));
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0]["error"]["code"], -32600, "{}", lines[0]);
    assert_eq!(lines[1]["error"]["code"], -32700, "{}", lines[1]);
    assert_eq!(lines[2]["id"], 3);
    assert_eq!(lines[2]["result"]["structuredContent"]["stdout"], "3\n");
}
