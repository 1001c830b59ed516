//! The cookies of cookie mode (`sessions.httpOnly`): the refresh token in an `HttpOnly`,
//! `Secure`, `SameSite`, path-scoped cookie; with `sessions.accessCookie`, the access JWT in
//! another, and the double-submit CSRF cookie a script of the front end's own page reads.

use crate::config::{ACCESS_COOKIE, CSRF_COOKIE, SessionsConfig};

fn cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: i64,
    http_only: bool,
    config: &SessionsConfig,
) -> String {
    let mut text = format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; SameSite={}",
        config.same_site.as_str()
    );
    if http_only {
        text.push_str("; HttpOnly");
    }
    if config.cookie_secure {
        text.push_str("; Secure");
    }
    text
}

/// The `Set-Cookie` values that hand a session's tokens to a browser in cookie mode: the
/// refresh token (living as long as the session may), and with `accessCookie` the access JWT
/// and a new CSRF value.
pub fn signed_in(config: &SessionsConfig, refresh_token: &str, jwt: &str) -> Vec<String> {
    let mut cookies = vec![cookie(
        &config.cookie_name,
        refresh_token,
        &config.cookie_path,
        config.absolute_lifetime.as_secs() as i64,
        true,
        config,
    )];
    if config.access_cookie {
        let lifetime = config.access_lifetime.as_secs() as i64;
        cookies.push(cookie(ACCESS_COOKIE, jwt, "/", lifetime, true, config));
        let csrf = crate::util::hex(&crate::util::random_bytes::<16>());
        cookies.push(cookie(
            CSRF_COOKIE,
            &csrf,
            "/",
            config.absolute_lifetime.as_secs() as i64,
            false,
            config,
        ));
    }
    cookies
}

/// The `Set-Cookie` values that remove the session's cookies (logout).
pub fn signed_out(config: &SessionsConfig) -> Vec<String> {
    let mut cookies = vec![cookie(
        &config.cookie_name,
        "",
        &config.cookie_path,
        0,
        true,
        config,
    )];
    if config.access_cookie {
        cookies.push(cookie(ACCESS_COOKIE, "", "/", 0, true, config));
        cookies.push(cookie(CSRF_COOKIE, "", "/", 0, false, config));
    }
    cookies
}

/// The value of the cookie `name` among the `Cookie` header values.
pub fn read<'a>(headers: impl IntoIterator<Item = &'a str>, name: &str) -> Option<&'a str> {
    headers
        .into_iter()
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refresh_cookie_is_http_only_secure_same_site_and_scoped() {
        let config = SessionsConfig::default();
        let cookies = signed_in(&config, "r3fr3sh", "a.b.c");
        assert_eq!(cookies.len(), 1, "no access cookie unless asked");
        assert_eq!(
            cookies[0],
            format!(
                "strapi_up_refresh=r3fr3sh; Path=/api/auth; Max-Age={}; SameSite=Lax; HttpOnly; Secure",
                90 * 86_400
            )
        );
        let gone = signed_out(&config);
        assert!(
            gone[0].starts_with("strapi_up_refresh=; Path=/api/auth; Max-Age=0;"),
            "{gone:?}"
        );
        assert_eq!(
            read(["a=1; strapi_up_refresh=xyz", "b=2"], "strapi_up_refresh"),
            Some("xyz")
        );
        assert_eq!(read(["a=1"], "strapi_up_refresh"), None);
    }
}
