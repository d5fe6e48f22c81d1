//! The three tools: their schemas, and their arguments checked into
//! requests. Argument errors name the argument.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{Value, json};
use srt_exec::{ExecRequest, Language};
use srt_policy::Grants;

pub const EXECUTE_CODE: &str = "execute_code";
pub const EXECUTE_CUSTOM: &str = "execute_code_with_custom_config";
pub const DISCOVER: &str = "discover_sandbox_config";

/// Longest `timeout_sec` a request may ask for (the policy's own
/// `limits.wallTimeSeconds` still applies when shorter).
pub const MAX_TIMEOUT_SEC: f64 = 3600.0;
pub const DEFAULT_TIMEOUT_SEC: f64 = 30.0;

/// The server's real default and longest `timeout_sec`: the settings'
/// `limits.wallTimeSeconds` lowers both.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeouts {
    pub default: f64,
    pub max: f64,
}

impl Timeouts {
    pub fn of(limits: &srt_policy::Limits) -> Self {
        let max = limits.wall_time_seconds.map_or(MAX_TIMEOUT_SEC, |w| w.min(MAX_TIMEOUT_SEC));
        Timeouts { default: DEFAULT_TIMEOUT_SEC.min(max), max }
    }
}

fn object(v: Value) -> Arc<JsonObject> {
    match v {
        Value::Object(m) => Arc::new(m),
        _ => Arc::new(JsonObject::new()),
    }
}

fn exec_properties(t: Timeouts) -> serde_json::Map<String, Value> {
    let v = json!({
        "code": {"type": "string", "description": "The program text, run as a file in a fresh, private working directory."},
        "language": {
            "type": "string", "enum": ["python", "javascript", "typescript", "bash", "sh"], "default": "python",
            "description": "python (python3), javascript (node), typescript (node type stripping, tsx or ts-node), bash or sh."
        },
        "timeout_sec": {
            "type": "number", "exclusiveMinimum": 0, "maximum": t.max, "default": t.default,
            "description": "Wall-clock limit in seconds; the program and everything it started are killed when it runs out (timed_out: true)."
        },
        "stdin": {"type": "string", "description": "Text fed to the program's standard input (default: empty)."}
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

fn result_schema() -> Arc<JsonObject> {
    object(json!({
        "type": "object",
        "properties": {
            "success": {"type": "boolean", "description": "exit status 0 within the time limit"},
            "exit_code": {"type": ["integer", "null"]},
            "signal": {"type": ["integer", "null"], "description": "the signal that killed the program, if one did"},
            "timed_out": {"type": "boolean"},
            "ended_by": {"type": "string", "enum": ["exit", "signal", "wall-time", "cpu-time", "memory", "processes", "file-size"],
                         "description": "why the run ended: the program exited, a signal killed it, or a limit stopped the sandbox"},
            "resource_usage": {"type": "object", "properties": {
                "user_cpu_ms": {"type": "integer"}, "system_cpu_ms": {"type": "integer"}, "max_rss_kib": {"type": "integer"}
            }},
            "stdout": {"type": "string"},
            "stderr": {"type": "string"},
            "stdout_truncated": {"type": "boolean"},
            "stderr_truncated": {"type": "boolean"},
            "duration_ms": {"type": "integer"},
            "violations": {
                "type": "array",
                "description": "what the sandbox denied while the program ran (network requests outside the allowed domains, ...)",
                "items": {"type": "object", "properties": {
                    "timestamp": {"type": "string"}, "kind": {"type": "string"}, "operation": {"type": "string"},
                    "target": {"type": "string"}, "decision": {"type": "string"}, "reason": {"type": "string"},
                    "pid": {"type": ["integer", "null"]}, "command": {"type": "string"}
                }}
            }
        },
        "required": ["success", "exit_code", "signal", "timed_out", "ended_by", "stdout", "stderr", "stdout_truncated",
                     "stderr_truncated", "duration_ms", "violations", "resource_usage"]
    }))
}

/// The tool list.
pub fn tools(t: Timeouts) -> Vec<Tool> {
    let base = exec_properties(t);
    let mut custom = base.clone();
    custom.insert(
        "allowed_domains".into(),
        json!({"type": "array", "items": {"type": "string"},
               "description": "Extra hosts the program may reach (\"api.example.com\", \"*.example.com\", \"host:port\"), \
                               within the server's ceiling."}),
    );
    custom.insert(
        "allowed_write_paths".into(),
        json!({"type": "array", "items": {"type": "string"},
               "description": "Extra absolute paths (or ~/...) the program may write, within the server's ceiling."}),
    );
    let annotations = |read_only: bool| {
        let mut a = ToolAnnotations::new();
        a.read_only_hint = Some(read_only);
        a.destructive_hint = Some(false);
        a.open_world_hint = Some(!read_only);
        a
    };
    vec![
        Tool::new(
            EXECUTE_CODE,
            "Run code in an OS-level sandbox and return its output. The program gets a fresh private working \
             directory (writable, removed afterwards), can read most of the file system except what the policy \
             denies, can write only its working directory and the policy's allowWrite paths, and can reach only \
             the policy's allowed domains (through an HTTP/SOCKS proxy set in its environment). The result says \
             whether it succeeded, its exit code, output, and any denied attempts (violations). Call \
             discover_sandbox_config first to learn what is allowed.",
            object(json!({"type": "object", "properties": base, "required": ["code"], "additionalProperties": false})),
        )
        .with_raw_output_schema(result_schema())
        .with_annotations(annotations(false)),
        Tool::new(
            EXECUTE_CUSTOM,
            "Like execute_code, with extra network domains and writable paths for this run only. Each extra entry \
             must lie within the server's ceiling (mcp.customConfigCeiling, or else the server's own policy); a \
             request beyond it is refused, naming each refused entry, and nothing runs.",
            object(
                json!({"type": "object", "properties": custom, "required": ["code"], "additionalProperties": false}),
            ),
        )
        .with_raw_output_schema(result_schema())
        .with_annotations(annotations(false)),
        Tool::new(
            DISCOVER,
            "Describe the sandbox before running anything: the effective policy (network, filesystem, mount plan), \
             the limits, the ceiling for custom configs, the languages with their interpreter versions, and what \
             this kernel supports (user namespaces, Landlock, seccomp, limit mechanism).",
            object(json!({"type": "object", "properties": {}, "additionalProperties": false})),
        )
        .with_raw_output_schema(object(json!({
            "type": "object",
            "properties": {
                "policy": {"type": "object"}, "limits": {"type": "object"}, "languages": {"type": ["array", "object"]},
                "kernel": {"type": "object"}, "customConfigCeiling": {"type": "object"}, "workspace": {"type": "object"}
            },
            "required": ["policy", "limits", "languages", "kernel"]
        })))
        .with_annotations(annotations(true)),
    ]
}

/// Checks the arguments of an execute tool into a request and the grants it
/// asks for (still to be judged against the ceiling).
pub fn parse_exec(args: &JsonObject, custom: bool, t: Timeouts) -> Result<(ExecRequest, Grants), String> {
    let allowed: &[&str] = if custom {
        &["code", "language", "timeout_sec", "stdin", "allowed_domains", "allowed_write_paths"]
    } else {
        &["code", "language", "timeout_sec", "stdin"]
    };
    if let Some(k) = args.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!("unknown argument `{k}` (expected {})", allowed.join(", ")));
    }
    let code = match args.get("code") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => return Err("argument `code` is required (the program text)".into()),
        Some(v) => return Err(format!("argument `code` must be a string, not {}", kind(v))),
    };
    let language = match args.get("language") {
        None | Some(Value::Null) => Language::Python,
        Some(Value::String(s)) => s.parse::<Language>().map_err(|e| format!("argument `language`: {e}"))?,
        Some(v) => return Err(format!("argument `language` must be a string, not {}", kind(v))),
    };
    let timeout = match args.get("timeout_sec") {
        None | Some(Value::Null) => t.default,
        Some(Value::Number(n)) => match n.as_f64() {
            Some(s) if s > 0.0 && s <= t.max => s,
            _ => {
                return Err(format!("argument `timeout_sec`: {n} is out of range (more than 0, at most {})", t.max));
            }
        },
        Some(v) => return Err(format!("argument `timeout_sec` must be a number of seconds, not {}", kind(v))),
    };
    let stdin = match args.get("stdin") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(v) => return Err(format!("argument `stdin` must be a string, not {}", kind(v))),
    };
    let mut grants = Grants::default();
    if custom {
        grants.allowed_domains = strings(args, "allowed_domains")?;
        grants.allowed_write_paths = strings(args, "allowed_write_paths")?;
    }
    let mut req = ExecRequest::new(language, code);
    req.timeout = Duration::from_secs_f64(timeout);
    req.stdin = stdin;
    Ok((req, grants))
}

fn strings(args: &JsonObject, name: &str) -> Result<Vec<String>, String> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.clone()),
                v => Err(format!("argument `{name}[{i}]` must be a string, not {}", kind(v))),
            })
            .collect(),
        Some(v) => Err(format!("argument `{name}` must be an array of strings, not {}", kind(v))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timeouts = Timeouts { default: DEFAULT_TIMEOUT_SEC, max: MAX_TIMEOUT_SEC };

    #[test]
    fn timeouts_follow_the_settings() {
        let l = srt_policy::Limits { wall_time_seconds: Some(10.0), ..Default::default() };
        assert_eq!(Timeouts::of(&l), Timeouts { default: 10.0, max: 10.0 });
        let t = tools(Timeouts::of(&l));
        assert_eq!(t[0].input_schema["properties"]["timeout_sec"]["maximum"], 10.0);
        let e = parse_exec(&args(json!({"code": "", "timeout_sec": 11})), false, Timeouts::of(&l)).unwrap_err();
        assert!(e.contains("at most 10"), "{e}");
        assert_eq!(Timeouts::of(&srt_policy::Limits::default()), T);
    }

    fn args(v: Value) -> JsonObject {
        match v {
            Value::Object(m) => m,
            _ => panic!(),
        }
    }

    #[test]
    fn defaults() {
        let (r, _) = parse_exec(&args(json!({"code": "print(1)"})), false, T).unwrap();
        assert_eq!(r.language, Language::Python);
        assert_eq!(r.timeout, Duration::from_secs(30));
        assert_eq!(r.stdin, None);
    }

    #[test]
    fn errors_name_the_argument() {
        let cases = [
            (json!({}), false, "`code`"),
            (json!({"code": 1}), false, "`code`"),
            (json!({"code": "", "language": "cobol"}), false, "`language`"),
            (json!({"code": "", "timeout_sec": 0}), false, "`timeout_sec`"),
            (json!({"code": "", "timeout_sec": "5"}), false, "`timeout_sec`"),
            (json!({"code": "", "stdin": 5}), false, "`stdin`"),
            (json!({"code": "", "allowed_domains": ["a.com"]}), false, "`allowed_domains`"),
            (json!({"code": "", "allowed_domains": "a.com"}), true, "`allowed_domains`"),
            (json!({"code": "", "allowed_write_paths": [1]}), true, "`allowed_write_paths[0]`"),
        ];
        for (a, custom, want) in cases {
            let e = parse_exec(&args(a.clone()), custom, T).unwrap_err();
            assert!(e.contains(want), "{a}: {e}");
        }
    }

    #[test]
    fn three_tools_with_schemas() {
        let t = tools(T);
        let names: Vec<_> = t.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(names, [EXECUTE_CODE, EXECUTE_CUSTOM, DISCOVER]);
        assert!(t[1].input_schema["properties"].get("allowed_domains").is_some());
    }
}
