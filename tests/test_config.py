"""config.toml validation: the shipped file is valid; every fault names the file, the field and the fault;
secrets come from the environment or secrets.toml and never show in dumps or errors."""
from __future__ import annotations

import stat
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from hankebot.core.models import FormKind, PersonType, PriceBasis
from hankebot.service.config import ConfigError, load_config, parse_config_text
from tests.helpers import SHIPPED_CONFIG, TALLINN, make_config


def test_shipped_config_validates():
    cfg = load_config(SHIPPED_CONFIG, check_files=False)
    ps = cfg.settings.procurement("302834")
    assert ps.procurer == "Sotsiaalkindlustusamet"
    assert ps.deadline_at(cfg.tz) == datetime(2026, 1, 19, 15, 0, tzinfo=TALLINN)
    assert ps.deadline_at(cfg.tz).astimezone(timezone.utc) == datetime(2026, 1, 19, 13, 0, tzinfo=timezone.utc)
    assert [p.number for p in ps.parts] == list(range(1, 8))
    assert [p.number for p in ps.parts if p.invited] == [2]
    assert sum(c.weight for c in ps.criteria) == 100
    cost = next(f for f in ps.forms if f.kind == FormKind.COST).spec().cost
    assert {(c.basis, c.sheet, c.cell) for c in cost.cells} == {
        (PriceBasis.NATURAL_TOTAL, "füüsilise isiku maksumus", "B15"),
        (PriceBasis.LEGAL_WITH_VAT, "juriidilise isiku maksumus", "D2"),
    }
    assert cost.min_price == Decimal("100") and isinstance(cost.min_price, Decimal)
    assert {b.key: b.person_type for b in ps.bidders}["kadri"] == PersonType.NATURAL
    assert all(ps.invited_parts(b) == [2] for b in ps.bidders)
    assert cfg.settings.telegram.staff[0].chat == 100001


def test_valid_variant_with_forms_passes_file_check(tmp_path):
    cfg = load_config(make_config(tmp_path))
    assert cfg.database_url == "sqlite:///" + str(tmp_path / "var" / "hankebot.sqlite")
    assert cfg.data_dir == tmp_path / "var"
    assert len(cfg.text_sha256) == 64


def _error(tmp_path, check_files: bool = False, **kw) -> ConfigError:
    path = make_config(tmp_path, **kw)
    with pytest.raises(ConfigError) as ei:
        load_config(path, check_files=check_files)
    err = ei.value
    assert str(path) in str(err)
    assert err.path == path
    return err


def _has(err: ConfigError, field: str, *words: str) -> None:
    """One problem is at `field` and its message holds every word; str(err) shows both."""
    hits = [msg for f, msg in err.problems if f == field]
    assert hits, f"no problem at {field}: {err.problems}"
    assert any(all(w in msg for w in words) for msg in hits), hits
    assert field in str(err)
    for w in words:
        assert w in str(err)


def test_weights_not_adding_to_100(tmp_path):
    def edit(d):
        d["procurement"][0]["criteria"][0]["weight"] = 30
    err = _error(tmp_path, edit=edit)
    _has(err, "procurement[0]", "weights add up to 90", "not 100")


def test_bad_bidder_email_names_the_bidder(tmp_path):
    def edit(d):
        d["procurement"][0]["bidders"][1]["email"] = "pakkumused(at)tugiteenused.example"
    err = _error(tmp_path, edit=edit)
    _has(err, "procurement[0].bidders[1].email", "pakkumused(at)tugiteenused.example", "not a valid e-mail address")


def test_bad_expert_email(tmp_path):
    err = _error(tmp_path, expert_email="taimi nilson@example.ee")
    _has(err, "procurement[0].expert_email", "not a valid e-mail address")


def test_unknown_field_typo(tmp_path):
    def edit(d):
        d["procurement"][0]["deadlline"] = d["procurement"][0]["deadline"]
    err = _error(tmp_path, edit=edit)
    _has(err, "procurement[0].deadlline", "unknown field")


def test_unknown_top_level_section(tmp_path):
    err = _error(tmp_path, edit=lambda d: d.update(serivce={"data_dir": "x"}))
    _has(err, "serivce", "unknown field")


def test_cost_form_without_price_cells(tmp_path):
    def edit(d):
        del d["procurement"][0]["forms"][1]["price_cells"]
    err = _error(tmp_path, edit=edit)
    _has(err, "procurement[0].forms[1]", "cost form needs price_cells")


def test_bad_cell_address(tmp_path):
    def edit(d):
        d["procurement"][0]["forms"][1]["price_cells"][0]["cell"] = "15B"
    err = _error(tmp_path, edit=edit)
    _has(err, "procurement[0].forms[1].price_cells[0].cell", "'15B'", "not a cell address")


def test_lowercase_cell_is_normalised(tmp_path):
    def edit(d):
        d["procurement"][0]["forms"][1]["price_cells"][1]["cell"] = "d2"
    cfg = load_config(make_config(tmp_path, edit=edit))
    assert cfg.settings.procurements[0].forms[1].price_cells[1].cell == "D2"


def test_bidder_invited_to_unconfigured_part(tmp_path):
    def edit(d):
        d["procurement"][0]["bidders"][2]["parts"] = [2, 9]
    err = _error(tmp_path, edit=edit)
    _has(err, "procurement[0]", "'kadri'", "part 9", "not configured")


def test_repeated_bidder_email(tmp_path):
    def edit(d):
        d["procurement"][0]["bidders"][4]["email"] = "INFO@arengukoolitus.example"
    err = _error(tmp_path, edit=edit)
    # both entries are named (the original is bidders[0])
    _has(err, "procurement[0]", "bidders[0] and bidders[4] have the same email 'info@arengukoolitus.example'")


def test_graded_level_above_weight(tmp_path):
    def edit(d):
        d["procurement"][0]["criteria"][1]["levels"][0]["points"] = 35
    err = _error(tmp_path, edit=edit)
    _has(err, "procurement[0].criteria[1]", "35", "outside 0..30")


def test_unknown_time_zone(tmp_path):
    err = _error(tmp_path, service={"timezone": "Europe/Tallin"})
    _has(err, "service.timezone", "unknown time zone 'Europe/Tallin'")


def test_several_faults_are_all_reported(tmp_path):
    def edit(d):
        d["procurement"][0]["bidders"][0]["email"] = "bad"
        d["mail"]["smtp"]["port"] = 70000
    err = _error(tmp_path, edit=edit)
    fields = [f for f, _ in err.problems]
    assert "procurement[0].bidders[0].email" in fields and "mail.smtp.port" in fields
    assert "2 problem(s)" in str(err)


def test_invalid_toml_syntax(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[service]\ndatabase_url = "sqlite:///x.sqlite\n', "utf-8")
    with pytest.raises(ConfigError) as ei:
        load_config(path)
    assert ei.value.problems[0][0] == "(syntax)"
    assert "not valid TOML" in str(ei.value) and "line 2" in str(ei.value)
    assert str(path) in str(ei.value)


def test_missing_and_non_utf8_file(tmp_path):
    with pytest.raises(ConfigError) as ei:
        load_config(tmp_path / "nope.toml")
    assert "cannot read" in str(ei.value) and str(tmp_path / "nope.toml") in str(ei.value)
    bad = tmp_path / "latin1.toml"
    bad.write_bytes("title = 'Kõrge'".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(bad)


def test_missing_form_file(tmp_path):
    path = make_config(tmp_path)
    missing = tmp_path / "forms" / "302834" / "Lisa 3 maksumuse vorm.xlsx"
    missing.unlink()
    load_config(path, check_files=False)  # the file check is separate
    with pytest.raises(ConfigError) as ei:
        load_config(path, check_files=True)
    err = ei.value
    assert err.problems == [("procurement[0].forms[1].file", f"form file not found: {missing}")]
    assert str(path) in str(err) and "procurement[0].forms[1].file" in str(err) and str(missing) in str(err)


def test_parse_config_text_empty_is_valid_defaults(tmp_path):
    s = parse_config_text("", tmp_path / "c.toml")
    assert s.procurements == [] and s.mail.smtp.port == 587


# ---------------------------------------------------------------- secrets


def test_env_secret_wins_over_secrets_file(tmp_path, monkeypatch):
    cfg = load_config(make_config(tmp_path))
    sf = tmp_path / "secrets.toml"
    sf.write_text('smtp_password = "from-file-Pa55"\nimap_password = "imap-file-Pa55"\n', "utf-8")
    sf.chmod(stat.S_IRUSR | stat.S_IWUSR)
    monkeypatch.delenv("HANKEBOT_SMTP_PASSWORD", raising=False)
    monkeypatch.delenv("HANKEBOT_IMAP_PASSWORD", raising=False)
    monkeypatch.delenv("HANKEBOT_TELEGRAM_TOKEN", raising=False)
    assert cfg.secret("smtp_password") == "from-file-Pa55"
    monkeypatch.setenv("HANKEBOT_SMTP_PASSWORD", "from-env-Pa55")
    assert cfg.secret("smtp_password") == "from-env-Pa55"
    assert cfg.secret(cfg.settings.mail.imap.password_secret) == "imap-file-Pa55"
    assert cfg.secret("telegram_token") is None
    assert cfg.secret(None) is None


def test_secrets_never_in_dump(tmp_path, monkeypatch):
    cfg = load_config(make_config(tmp_path))
    (tmp_path / "secrets.toml").write_text('smtp_password = "file-Secret-1"\ntelegram_token = "123:tok-Secret-2"\n')
    monkeypatch.setenv("HANKEBOT_IMAP_PASSWORD", "env-Secret-3")
    assert cfg.secret("smtp_password") == "file-Secret-1"
    dumped = cfg.settings.model_dump_json() + repr(cfg.settings.model_dump())
    for s in ("file-Secret-1", "tok-Secret-2", "env-Secret-3"):
        assert s not in dumped
    assert "password" not in str(cfg.settings.mail.smtp.model_dump().keys()).replace("password_secret", "")


def test_secret_put_into_config_is_refused_without_echoing_it(tmp_path):
    def edit(d):
        d["mail"]["smtp"]["password"] = "hunter2-Leak"
        d["telegram"]["token"] = "999:leaky-token"
    err = _error(tmp_path, edit=edit)
    _has(err, "mail.smtp.password", "unknown field")
    _has(err, "telegram.token", "unknown field")
    assert "hunter2-Leak" not in str(err) and "leaky-token" not in str(err)
    assert "hunter2-Leak" not in repr(err.problems)


def test_broken_secrets_file_does_not_echo_secrets(tmp_path, monkeypatch):
    monkeypatch.delenv("HANKEBOT_SMTP_PASSWORD", raising=False)
    cfg = load_config(make_config(tmp_path))
    sf = tmp_path / "secrets.toml"
    sf.write_text('smtp_password = "Very-Secret-9\n', "utf-8")
    with pytest.raises(ConfigError) as ei:
        cfg.secret("smtp_password")
    assert str(sf) in str(ei.value)
    assert "Very-Secret-9" not in str(ei.value)


@pytest.mark.parametrize("bad", [0, -2])
def test_reminder_days_must_be_positive(tmp_path, bad):
    err = _error(tmp_path, reminders={"working_days_before": [2, bad]})
    _has(err, "procurement[0].reminders.working_days_before[1]", "greater than or equal to 1")


def test_reminders_configured(tmp_path):
    cfg = load_config(make_config(tmp_path, reminders={"working_days_before": [2, 5]}))
    assert cfg.settings.procurements[0].reminders.working_days_before == [2, 5]
