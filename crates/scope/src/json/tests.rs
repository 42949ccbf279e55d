//! JSON arguments: every wrong type and value is refused naming its argument.

use sole_error::Error;

use super::*;

fn arg(e: &Error) -> String {
    match e.details().iter().find(|(k, _)| *k == "argument") {
        Some((_, sole_error::Detail::Str(s))) => s.clone(),
        _ => String::new(),
    }
}

#[test]
fn inputs_are_checked() {
    let f = Path::new("/r/scope.json");
    let (s, sid) = register_args(
        Some(r#"{"name":"a","scopes":[{"target":"/x/../src/","permission":"write","recursive":true}],"sessionId":"s"}"#),
        f,
    )
    .unwrap();
    assert_eq!(s.scopes[0].target, Path::new("/src"));
    assert_eq!((s.pid, sid.as_str()), (None, "s"));
    let rule = |t: &str| format!(r#"{{"target":{t},"permission":"write","recursive":true}}"#);
    for (bad, argument) in [
        (r#"{"name":"a","scopes":[]}"#.to_string(), "sessionId"),
        (r#"{"name":1,"scopes":[],"sessionId":"s"}"#.into(), "name"),
        (r#"{"name":"","scopes":[],"sessionId":"s"}"#.into(), "name"),
        (r#"{"name":"a","scopes":[],"sessionId":"s","extra":1}"#.into(), "extra"),
        (format!(r#"{{"name":"a","scopes":[{}],"sessionId":"s"}}"#, rule(r#""src""#)), "scopes[0].target"),
        (format!(r#"{{"name":"a","scopes":[{},{}],"sessionId":"s"}}"#, rule(r#""/a""#), rule(r#""/a\u0000b""#)), "scopes[1].target"),
        (r#"{"name":"a","scopes":[{"target":"/src","permission":"own","recursive":true}],"sessionId":"s"}"#.into(), "scopes[0].permission"),
        (r#"{"name":"a","scopes":[{"target":"/src","permission":"read","recursive":1}],"sessionId":"s"}"#.into(), "scopes[0].recursive"),
        (r#"{"name":"a","scopes":[{"target":"/src","permission":"read","recursive":true,"x":1}],"sessionId":"s"}"#.into(), "scopes[0].x"),
        (r#"{"name":"a","scopes":{},"sessionId":"s"}"#.into(), "scopes"),
        (r#"{"name":"a","socket":7,"scopes":[],"sessionId":"s"}"#.into(), "socket"),
        (r#"{"name":{"\u0000sole":"bigint","shown":"12n"},"scopes":[],"sessionId":"s"}"#.into(), "name"),
        (r#"[1]"#.into(), "opts"),
        (r#"5"#.into(), "opts"),
        (r#"{"\u0000sole":"symbol","shown":"Symbol(x)"}"#.into(), "opts"),
        (r#"not json"#.into(), "opts"),
    ] {
        let e = register_args(Some(&bad), f).unwrap_err();
        assert_eq!(e.code(), "EINVAL", "{bad}");
        assert_eq!(arg(&e), argument, "{bad}: {}", e.message());
        assert!(e.message().contains("/r/scope.json"), "{}", e.message());
        assert_eq!(e.path(), Some(f));
    }
    let e = register_args(None, f).unwrap_err();
    assert_eq!(
        arg(&e),
        "name",
        "undefined options: the defaults, and name is required"
    );
    let e = register_args(
        Some(r#"{"name":{"\u0000sole":"bigint","shown":"12n"},"scopes":[],"sessionId":"s"}"#),
        f,
    )
    .unwrap_err();
    assert!(e.message().contains("bigint (12n)"), "{}", e.message());
    for pid in [
        "0",
        "-1",
        "1.5",
        "2147483648",
        "9007199254740992",
        "\"12\"",
        "true",
        "[]",
        r#"{"\u0000sole":"number","shown":"NaN"}"#,
        r#"{"\u0000sole":"bigint","shown":"12n"}"#,
    ] {
        let e = register_args(
            Some(&format!(
                r#"{{"name":"a","pid":{pid},"scopes":[],"sessionId":"s"}}"#
            )),
            f,
        )
        .unwrap_err();
        assert_eq!(e.code(), "EINVALIDPID", "{pid}");
        assert_eq!(arg(&e), "pid");
    }
    assert_eq!(
        adopt_args(Some(r#"{"pid":12,"sessionId":"s","x":null}"#), f)
            .unwrap_err()
            .code(),
        "EINVAL",
        "unknown keys are refused even when null"
    );
    assert_eq!(
        adopt_args(Some(r#"{"pid":12,"sessionId":"s"}"#), f).unwrap(),
        (sole_procid::Pid::new(12), "s".into())
    );
    assert_eq!(
        adopt_args(Some(r#"{"pid":null,"sessionId":"s"}"#), f).unwrap(),
        (None, "s".into())
    );
    let e = delegate_args(Some(r#"{"name":"c","scopes":[],"sessionId":"x"}"#), f).unwrap_err();
    assert_eq!(arg(&e), "sessionId");
    assert!(delegate_args(Some(r#"{"name":"c","scopes":[],"sessionId":null}"#), f).is_ok());
}

#[test]
fn rules_name_their_argument_and_pure_ones_have_no_path() {
    let e = rule(
        Some(r#"{"target":"/a\u0000","permission":"write","recursive":true}"#),
        "b",
        None,
    )
    .unwrap_err();
    assert_eq!(arg(&e), "b.target");
    assert!(e.message().contains("NUL"));
    assert_eq!(e.path(), None);
    let e = rule(None, "rule", Some(Path::new("/r/s.json"))).unwrap_err();
    assert_eq!(arg(&e), "rule");
    assert_eq!(e.path(), Some(Path::new("/r/s.json")));
    let e = rule(Some(r#"{"\u0000sole":"cycle"}"#), "rule", None).unwrap_err();
    assert!(e.message().contains("cycle"), "{}", e.message());
}
