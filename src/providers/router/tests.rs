//! Unit tests of the router's pure parts: rendering, reading back, the
//! access log and `/proc` parsing. The router against a real nginx is
//! tests/router.rs.

#![allow(clippy::unwrap_used, reason = "tests")]

use super::access_log::{self, Attempt, Traffic};
use super::config::{self, Layout};
use super::port;
use super::{RouterError, Routes, Upstream};

fn blue_green(blue: u32, green: u32) -> Routes {
    Routes::new("api", 8080)
        .to(Upstream::new("blue", "127.0.0.1", 8101).weight(blue))
        .to(Upstream::new("green", "127.0.0.1", 8102).weight(green))
}

fn layout() -> Layout {
    Layout::new("/srv/stack/.infra/run/shop/dev/api/router")
}

#[test]
fn a_configuration_weights_its_upstreams_and_leaves_out_those_of_weight_zero() {
    let text = config::render(&blue_green(9, 1), &layout(), 3, None).unwrap();
    assert!(
        text.contains("server 127.0.0.1:8101 weight=9; # blue"),
        "{text}"
    );
    assert!(
        text.contains("server 127.0.0.1:8102 weight=1; # green"),
        "{text}"
    );
    assert!(text.contains("listen 127.0.0.1:8080;"), "{text}");
    assert!(
        text.contains("return 200 \"infra router generation 3\";"),
        "{text}"
    );
    assert!(
        text.contains("pid \"/srv/stack/.infra/run/shop/dev/api/router/nginx.pid\";"),
        "{text}"
    );
    assert!(!text.contains("user "), "{text}");

    let text = config::render(&blue_green(0, 1), &layout(), 4, Some("root")).unwrap();
    assert!(!text.contains("server 127.0.0.1:8101"), "{text}");
    assert!(text.contains("user root;"), "{text}");
}

#[test]
fn a_configuration_gives_back_the_routes_and_generation_it_was_rendered_from() {
    let routes = blue_green(1, 3);
    let text = config::render(&routes, &layout(), 7, None).unwrap();
    assert_eq!(config::read_header(&text), Some((7, routes)));
    assert_eq!(config::read_header("worker_processes 1;\n"), None);
}

#[test]
fn routes_to_nothing_are_refused() {
    let error = config::render(&blue_green(0, 0), &layout(), 1, None).unwrap_err();
    assert_eq!(
        error,
        RouterError::NoUpstream {
            service: "api".to_owned()
        }
    );
    let error = config::render(&Routes::new("api", 8080), &layout(), 1, None).unwrap_err();
    assert!(
        error.to_string().contains("would route to nothing"),
        "{error}"
    );
}

#[test]
fn values_that_would_change_the_configurations_structure_are_refused() {
    let bad_dir = Layout::new("/tmp/a\"b; evil");
    assert!(matches!(
        config::render(&blue_green(1, 1), &bad_dir, 1, None),
        Err(RouterError::Unrepresentable { .. })
    ));
    let dollar = Layout::new("/tmp/$host");
    assert!(matches!(
        config::render(&blue_green(1, 1), &dollar, 1, None),
        Err(RouterError::Unrepresentable { .. })
    ));
    let mut routes = blue_green(1, 1);
    routes.upstreams[0].host = "127.0.0.1; include /etc/passwd".to_owned();
    assert!(matches!(
        config::render(&routes, &layout(), 1, None),
        Err(RouterError::Unrepresentable { .. })
    ));
    let mut routes = blue_green(1, 1);
    routes.upstreams[1].label = "green\nserver evil:80;".to_owned();
    assert!(matches!(
        config::render(&routes, &layout(), 1, None),
        Err(RouterError::Unrepresentable { .. })
    ));
}

#[test]
fn an_access_line_gives_status_time_and_each_upstream_tried() {
    let record = access_log::parse_line(
        "1|1796552464.015|200|0.012|127.0.0.1:8102, 127.0.0.1:8101|502, 200|GET /a|b HTTP/1.1",
    )
    .unwrap();
    assert_eq!(record.at_ms, 1_796_552_464_015);
    assert_eq!(record.status, 200);
    assert_eq!(record.duration_ms, 12);
    assert_eq!(record.request, "GET /a|b HTTP/1.1");
    assert_eq!(
        record.attempts,
        vec![
            Attempt {
                address: "127.0.0.1:8102".to_owned(),
                status: Some(502)
            },
            Attempt {
                address: "127.0.0.1:8101".to_owned(),
                status: Some(200)
            },
        ]
    );
    let served_by_router = access_log::parse_line("1|5.5|404|0.000|-|-|GET / HTTP/1.1").unwrap();
    assert!(served_by_router.attempts.is_empty());
    assert_eq!(
        access_log::parse_line("127.0.0.1 - - [06/Dec/2026] \"GET /\""),
        None
    );
}

#[test]
fn the_error_rate_counts_complete_lines_for_all_traffic_or_one_upstream() {
    let log = "\
1|1.000|200|0.001|127.0.0.1:8101|200|GET / HTTP/1.1
1|1.001|500|0.001|127.0.0.1:8102|500|GET / HTTP/1.1
1|1.002|200|0.001|127.0.0.1:8102, 127.0.0.1:8101|502, 200|GET / HTTP/1.1
1|1.003|200|0.001|127.0.0.1:8102|200|GET / HTTP/1.1
1|1.004|503|0.0";
    let all = access_log::error_rate(log.as_bytes(), 100, &Traffic::All);
    assert_eq!((all.requests, all.errors), (4, 1));
    let complete = log.rfind('\n').unwrap() + 1;
    assert_eq!(all.next_offset, 100 + complete as u64);

    let green = access_log::error_rate(
        log.as_bytes(),
        0,
        &Traffic::To(vec!["127.0.0.1:8102".to_owned()]),
    );
    assert_eq!((green.requests, green.errors), (3, 2));
    assert!((green.rate() - 2.0 / 3.0).abs() < 1e-9);

    let nothing = access_log::error_rate(b"", 0, &Traffic::All);
    assert_eq!(nothing.rate(), 0.0);
}

#[test]
fn the_holder_of_a_port_is_read_from_proc_net_tcp() {
    let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1 0000000000000000 100 0 0 10 0
";
    assert_eq!(port::listening_inodes(tcp, 8080), vec![4242]);
    assert_eq!(port::listening_inodes(tcp, 9), Vec::<u64>::new());
    assert_eq!(
        port::describe(12, b"python3\0-m\0http.server\08080\0"),
        "pid 12 (python3 -m http.server 8080)"
    );
    assert_eq!(port::describe(12, b""), "pid 12");
}

#[test]
fn a_missing_nginx_says_how_to_install_it() {
    let empty = std::env::temp_dir().join(format!("infra-no-nginx-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let error = super::Nginx::find_in(std::slice::from_ref(&empty)).unwrap_err();
    let _ = std::fs::remove_dir_all(&empty);
    let message = error.to_string();
    assert!(message.contains("apt-get install nginx-light"), "{message}");
    assert!(message.contains(&empty.display().to_string()), "{message}");
    let provider_error = crate::providers::ProviderError::from(error);
    assert!(!provider_error.is_transient());
}
