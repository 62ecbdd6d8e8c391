"""Settings: defaults, environment, TOML file, and one clear line for anything wrong."""

from __future__ import annotations

import stat

import pytest

from comments.config import Config, ConfigError, load
from comments.models import Moderation


def test_defaults_keep_everything_in_the_data_dir(tmp_path):
    config = load({"COMMENTS_DATA_DIR": str(tmp_path / "data")})
    assert config.database_url == f"sqlite:///{tmp_path / 'data' / 'comments.db'}"
    assert (config.host, config.port, config.workers) == ("127.0.0.1", 8000, 1)
    assert config.moderation is Moderation.POST
    assert config.edit_window == 15 * 60
    assert config.max_length == 10_000
    assert config.origins == ()
    secret_file = tmp_path / "data" / "secret.key"
    assert secret_file.read_text().strip() == config.secret_key
    assert len(config.secret_key) >= 48
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    # Kept across restarts.
    assert load({"COMMENTS_DATA_DIR": str(tmp_path / "data")}).secret_key == config.secret_key


def test_secret_is_not_in_repr(tmp_path):
    config = load({"COMMENTS_DATA_DIR": str(tmp_path), "COMMENTS_SECRET_KEY": "hunter2"})
    assert "hunter2" not in repr(config)


def test_redis_url_is_optional_and_kept_out_of_repr(tmp_path):
    assert load({"COMMENTS_DATA_DIR": str(tmp_path)}).redis_url == ""
    url = "redis://:hunter2@cache.internal:6379/1"
    config = load({"COMMENTS_DATA_DIR": str(tmp_path), "COMMENTS_REDIS_URL": url})
    assert config.redis_url == url
    assert "hunter2" not in repr(config)


def test_environment_values_are_parsed(tmp_path):
    config = load(
        {
            "COMMENTS_DATA_DIR": str(tmp_path),
            "COMMENTS_ORIGINS": "https://Blog.Example/, http://localhost:4000",
            "COMMENTS_MODERATION": "pre",
            "COMMENTS_EDIT_WINDOW": "2h",
            "COMMENTS_MAX_LENGTH": "500",
            "COMMENTS_TRUSTED_PROXIES": "10.0.0.0/8, ::1",
            "COMMENTS_PORT": "9000",
            "COMMENTS_WORKERS": "4",
            "COMMENTS_TEST_DATABASE_URL": "ignored by the server",
            "COMMENTS_TEST_REDIS_URL": "ignored too",
            "PATH": "/usr/bin",
        }
    )
    assert config.origins == ("https://blog.example", "http://localhost:4000")
    assert config.default_site == "blog.example"
    assert config.moderation is Moderation.PRE
    assert config.edit_window == 7200
    assert config.max_length == 500
    assert len(config.trusted_proxies) == 2
    assert (config.port, config.workers) == (9000, 4)


@pytest.mark.parametrize(
    "plain, chosen",
    [
        ("postgresql://user@db.host/comments", "postgresql+psycopg://user@db.host/comments"),
        ("postgres://user:pw@db.host:5433/c", "postgresql+psycopg://user:pw@db.host:5433/c"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
        ("sqlite:////var/lib/comments.db", "sqlite:////var/lib/comments.db"),
    ],
)
def test_database_url_as_hosting_providers_hand_it_out(tmp_path, plain, chosen):
    config = load({"COMMENTS_DATA_DIR": str(tmp_path), "COMMENTS_DATABASE_URL": plain})
    assert config.database_url == chosen


def test_toml_file_then_environment_then_overrides(tmp_path):
    path = tmp_path / "comments.toml"
    path.write_text(
        'moderation = "pre"\nport = 7000\norigins = ["https://a.example", "https://b.example"]\n'
        f'data_dir = "{tmp_path}"\n'
    )
    config = load({"COMMENTS_PORT": "7001"}, path, {"workers": 3, "host": None})
    assert config.moderation is Moderation.PRE
    assert config.port == 7001
    assert config.workers == 3
    assert config.origins == ("https://a.example", "https://b.example")
    via_environment = load({"COMMENTS_CONFIG": str(path)})
    assert via_environment.port == 7000


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"COMMENTS_PROT": "80"}, "COMMENTS_PROT: unknown setting"),
        ({"COMMENTS_PORT": "eighty"}, "COMMENTS_PORT: invalid value 'eighty'"),
        ({"COMMENTS_PORT": "70000"}, "COMMENTS_PORT: invalid value '70000'"),
        ({"COMMENTS_MODERATION": "sometimes"}, "COMMENTS_MODERATION: invalid value"),
        ({"COMMENTS_EDIT_WINDOW": "soon"}, "COMMENTS_EDIT_WINDOW: invalid value"),
        ({"COMMENTS_ORIGINS": "blog.example"}, "COMMENTS_ORIGINS: invalid value"),
        ({"COMMENTS_ORIGINS": "https://blog.example/path"}, "COMMENTS_ORIGINS: invalid value"),
        ({"COMMENTS_DATABASE_URL": "mysql://x/y"}, "COMMENTS_DATABASE_URL: invalid value"),
        ({"COMMENTS_TRUSTED_PROXIES": "proxy"}, "COMMENTS_TRUSTED_PROXIES: invalid value"),
        ({"COMMENTS_SECRET_KEY": "  "}, "COMMENTS_SECRET_KEY: invalid value"),
        ({"COMMENTS_MAX_LENGTH": "0"}, "COMMENTS_MAX_LENGTH: invalid value"),
        ({"COMMENTS_REDIS_URL": "cache.internal:6379"}, "COMMENTS_REDIS_URL: invalid value"),
    ],
)
def test_bad_settings_stop_with_one_line_naming_them(tmp_path, environ, message):
    with pytest.raises(ConfigError) as caught:
        load({"COMMENTS_DATA_DIR": str(tmp_path), **environ})
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "environ, message",
    [
        (
            {"COMMENTS_DATABASE_URL": "mysql://comments:hunter2@db/comments"},
            "COMMENTS_DATABASE_URL: invalid value 'mysql://comments:***@db/comments'",
        ),
        (
            {"COMMENTS_REDIS_URL": "cache://:hunter2@cache.internal:6379"},
            "COMMENTS_REDIS_URL: invalid value 'cache://:***@cache.internal:6379'",
        ),
    ],
)
def test_bad_settings_never_echo_a_password(tmp_path, environ, message):
    with pytest.raises(ConfigError) as caught:
        load({"COMMENTS_DATA_DIR": str(tmp_path), **environ})
    assert str(caught.value).startswith(message)
    assert "hunter2" not in str(caught.value)


def test_bad_toml_names_the_file_and_key(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("colour = 'blue'\n")
    with pytest.raises(ConfigError, match=r"colour in .*c\.toml: unknown setting"):
        load({"COMMENTS_DATA_DIR": str(tmp_path)}, path)
    path.write_text("port = [\n")
    with pytest.raises(ConfigError, match=r"config file .*c\.toml"):
        load({"COMMENTS_DATA_DIR": str(tmp_path)}, path)


def test_config_is_frozen(tmp_path):
    config = load({"COMMENTS_DATA_DIR": str(tmp_path)})
    with pytest.raises(AttributeError):
        config.port = 1  # type: ignore[misc]
    assert isinstance(config, Config)


def test_site_moderation_from_environment_and_toml(tmp_path):
    from comments.models import Moderation

    config = load(
        {
            "COMMENTS_DATA_DIR": str(tmp_path),
            "COMMENTS_SITE_MODERATION": "A.example=pre, b.example=trusted",
        }
    )
    assert config.moderation_of("a.example") is Moderation.PRE
    assert config.moderation_of("b.example") is Moderation.TRUSTED
    assert config.moderation_of("c.example") is Moderation.POST
    path = tmp_path / "c.toml"
    path.write_text('[site_moderation]\n"a.example" = "trusted"\n')
    assert load({"COMMENTS_DATA_DIR": str(tmp_path)}, path).moderation_of("a.example") is (
        Moderation.TRUSTED
    )
    with pytest.raises(ConfigError, match="COMMENTS_SITE_MODERATION: invalid value"):
        load({"COMMENTS_DATA_DIR": str(tmp_path), "COMMENTS_SITE_MODERATION": "a.example=maybe"})


# Sites: one canonical name, any number of aliases


def sites_config(tmp_path, **environ: str) -> Config:
    values = {"COMMENTS_DATA_DIR": str(tmp_path), "COMMENTS_SECRET_KEY": "s"}
    return load({**values, **{f"COMMENTS_{key.upper()}": value for key, value in environ.items()}})


def test_site_aliases_from_the_environment(tmp_path):
    config = sites_config(
        tmp_path,
        origins="https://blog.example.org",
        site_aliases="blog.example.org=www.blog.example.org,old-blog.net,"
        "http://blog.example.org:8080; news.example.org=",
    )
    assert config.site_aliases == (
        (
            "blog.example.org",
            ("www.blog.example.org", "old-blog.net", "http://blog.example.org:8080"),
        ),
        ("news.example.org", ()),
    )
    for address in (
        "https://blog.example.org",
        "https://www.blog.example.org",
        "http://blog.example.org",
        "https://blog.example.org:443",
        "http://blog.example.org:8080",
        "https://old-blog.net",
        "https://www.old-blog.net",
        "old-blog.net",
        "BLOG.example.org",
    ):
        assert config.site_of_origin(address) == "blog.example.org", address
    assert config.site_of_origin("https://news.example.org") == "news.example.org"
    assert config.sites == ("blog.example.org", "news.example.org")
    assert config.default_site == "blog.example.org"
    # Posting: COMMENTS_ORIGINS and the aliases written as origins; a bare name only maps.
    assert config.allowed_origins == ("https://blog.example.org", "http://blog.example.org:8080")


def test_unknown_addresses_get_the_default_site(tmp_path):
    config = sites_config(tmp_path, origins="https://blog.example.org")
    for address in (None, "", "null", "https://elsewhere.example", "http://localhost:4000"):
        assert config.site_of_origin(address) == "blog.example.org"
        assert address is None or config.known_site(address) is None
    assert sites_config(tmp_path).site_of_origin("https://x.example") == "localhost"
    assert sites_config(tmp_path).sites == ("localhost",)


def test_www_scheme_and_default_port_are_one_site_named_by_the_first_origin(tmp_path):
    config = sites_config(
        tmp_path, origins="https://www.example.org, http://example.org, https://example.org:443"
    )
    assert config.sites == ("www.example.org",)
    for origin in config.origins:
        assert config.site_of_origin(origin) == "www.example.org"
    # A port that is not a default one is another site.
    assert config.known_site("https://example.org:8443") is None


def test_two_names_configured_as_sites_stay_apart(tmp_path):
    config = sites_config(
        tmp_path,
        origins="https://example.org,https://www.example.org",
        site_aliases="example.org=; www.example.org=",
    )
    assert config.site_of_origin("https://example.org") == "example.org"
    assert config.site_of_origin("https://www.example.org") == "www.example.org"
    assert config.site_of_origin("http://www.example.org") == "www.example.org"


def test_site_aliases_and_query_parameters_from_toml(tmp_path):
    path = tmp_path / "comments.toml"
    path.write_text(
        'origins = ["https://blog.example.org"]\n'
        "[site_aliases]\n"
        '"blog.example.org" = ["old-blog.net", "http://blog.example.org:8080"]\n'
        "[site_query_parameters]\n"
        '"old-blog.net" = ["p", "page_id"]\n'
        "[site_moderation]\n"
        '"www.blog.example.org" = "pre"\n'
    )
    config = load({"COMMENTS_DATA_DIR": str(tmp_path), "COMMENTS_SECRET_KEY": "s"}, path)
    assert config.site_of_origin("https://old-blog.net") == "blog.example.org"
    # Per-site settings may name a site by any of its names.
    assert config.query_parameters_of("blog.example.org") == {"p", "page_id"}
    assert config.query_parameters_of("other.example") == frozenset()
    assert config.moderation_of("blog.example.org") is Moderation.PRE


def test_query_parameters_from_the_environment(tmp_path):
    config = sites_config(
        tmp_path, site_query_parameters="blog.example.org=p,page_id; shop.example=q"
    )
    assert config.site_query_parameters == (
        ("blog.example.org", ("p", "page_id")),
        ("shop.example", ("q",)),
    )


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("site_aliases", "www.blog.example.org", "expected site=name"),
        ("site_aliases", "https://blog.example.org=www.blog.example.org", "named by its host"),
        ("site_aliases", "blog.example.org=https://x.example/blog/", "is not a host"),
        ("site_aliases", "blog.example.org=ftp://x.example", "only http and https"),
        (
            "site_aliases",
            "a.example=x.example; b.example=x.example",
            "both a.example and b.example",
        ),
        ("site_aliases", "a.example=b.example; b.example=", "both"),
        ("site_aliases", "a.example=x.example; a.example=y.example", "listed twice"),
        ("site_aliases", "a.example=x.example:99999", "invalid value"),
        ("site_query_parameters", "blog.example.org=p&q", "not a query parameter"),
    ],
)
def test_bad_site_settings_stop_with_one_line(tmp_path, setting, value, message):
    with pytest.raises(ConfigError) as raised:
        sites_config(tmp_path, **{setting: value})
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)
