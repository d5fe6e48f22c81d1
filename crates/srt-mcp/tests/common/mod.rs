//! Helpers shared by srt-mcp's end-to-end test binaries (each uses a subset).
#![allow(dead_code)]

use std::path::PathBuf;

/// The srt-mcp under test: `SRT_MCP_BIN` (the test script's copy, when it
/// runs the tests as another user), else the one cargo built.
pub fn srt_mcp_bin() -> PathBuf {
    srt_testkit::binary!("SRT_MCP_BIN", "srt-mcp")
}

/// srt-mcp over stdio with `args`, started in the temporary directory, its
/// stdin and stdout piped (stderr dropped).
pub fn spawn_stdio(args: &[&str]) -> std::process::Child {
    use std::process::{Command, Stdio};
    Command::new(srt_mcp_bin())
        .args(args)
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// A `tools/call` request of the 2026-07-28 protocol era (no `initialize`
/// needed), as one line of JSON.
pub fn tool_call(id: u32, tool: &str, arguments: serde_json::Value) -> String {
    serde_json::json!({
        "jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": tool, "arguments": arguments,
                   "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                             "io.modelcontextprotocol/clientCapabilities": {}}}
    })
    .to_string()
}
