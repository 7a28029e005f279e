"""The policy file: loading, errors that name the line or rule, and the lexicon's findings."""

from __future__ import annotations

import pytest

from bridge.governance.policy import PolicyError, load_policy, parse_policy
from tests.governance.conftest import POLICY_FILE

HEAD = '[policy]\nversion = "v1"\ntext = "Business only."\n'


def test_sample_policy_loads():
    policy = load_policy(POLICY_FILE)
    assert policy.version == "2026-11"
    assert [r.name for r in policy.rules] == ["payment-card", "iban", "promissory", "off-channel"]
    assert policy.outbound_allowed == ("image/jpeg", "image/png", "application/pdf")
    assert len(policy.text_sha256) == 64


def test_findings_respect_direction_and_action():
    policy = load_policy(POLICY_FILE)
    text = "4111 1111 1111 1111 with guaranteed returns, call me on Signal"
    outbound = {(f.rule, f.action) for f in policy.findings(text, "outbound")}
    inbound = {(f.rule, f.action) for f in policy.findings(text, "inbound")}
    assert outbound == {("payment-card", "block"), ("promissory", "flag")}
    assert inbound == {("promissory", "flag"), ("off-channel", "flag")}


def test_keywords_match_whole_words_case_insensitively():
    policy = parse_policy(
        HEAD + '[[rules]]\nname = "k"\nkeywords = ["cash", "wire transfer"]\n'
        'action = "flag"\nreason = "r"\n'
    )
    assert [f.matched for f in policy.findings("CASH please, by Wire Transfer", "outbound")] == [
        ("CASH", "Wire Transfer")
    ]
    assert policy.findings("cashew nuts", "outbound") == []


def test_attachment_types_outside_the_allow_list_block_outbound_only():
    policy = load_policy(POLICY_FILE)
    found = policy.findings("see attached", "outbound", ["application/zip", "image/png"])
    assert [(f.rule, f.action, f.matched) for f in found] == [
        ("attachment-type", "block", ("application/zip",))
    ]
    assert policy.findings("see attached", "outbound", ["image/jpeg; charset=binary"]) == []
    assert policy.findings("see attached", "inbound", ["application/zip"]) == []


def test_without_an_attachments_table_every_type_is_allowed():
    assert parse_policy(HEAD).findings("x", "outbound", ["application/zip"]) == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            '[[rules]]\nname = "a"\npattern = "ok"\naction = "flag"\nreason = "r"\n\n'
            '[[rules]]\nname = "broken"\npattern = "(unclosed"\naction = "block"\nreason = "r"\n',
            "policy.toml:10: rule 'broken': invalid pattern",
        ),
        (
            '[[rules]]\nname = "ssn"\ndetector = "ssn"\naction = "block"\nreason = "r"\n',
            "policy.toml:4: rule 'ssn': unknown detector 'ssn' (known: iban, payment_card)",
        ),
        (
            '[[rules]]\nname = "x"\npattern = "a"\naction = "quarantine"\nreason = "r"\n',
            "policy.toml:4: rule 'x': action must be block or flag",
        ),
        (
            '[[rules]]\nname = "x"\npattern = "a"\naction = "flag"\ndirection = "sideways"\n'
            'reason = "r"\n',
            "policy.toml:4: rule 'x': direction must be inbound, outbound or both",
        ),
        (
            '[[rules]]\nname = "x"\npattern = "a"\ndetector = "iban"\naction = "flag"\nreason = "r"\n',
            "rule 'x': give exactly one of detector, pattern or keywords",
        ),
        (
            '[[rules]]\nname = "x"\npattern = "a*"\naction = "flag"\nreason = "r"\n',
            "rule 'x': pattern 'a*' matches empty text",
        ),
        ('[[rules]]\nname = "x"\npattern = "a"\naction = "flag"\n', "rule 'x': needs a reason"),
        (
            '[[rules]]\npattern = "a"\naction = "flag"\nreason = "r"\n',
            "policy.toml:4: rule #1 needs a name",
        ),
        (
            '[[rules]]\nname = "x"\npattern = "a"\naction = "flag"\nreason = "r"\n'
            '[[rules]]\nname = "x"\npattern = "b"\naction = "flag"\nreason = "r"\n',
            "policy.toml:9: rule 'x': a second rule with this name",
        ),
        (
            '[attachments]\noutbound_allowed = "image/png"\n',
            "policy.toml:4: [attachments] outbound_allowed must be a list of MIME types",
        ),
    ],
)
def test_bad_rules_are_named_with_their_line(body, expected):
    with pytest.raises(PolicyError) as caught:
        parse_policy(HEAD + body, name="policy.toml")
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_toml_syntax_errors_name_the_line():
    with pytest.raises(PolicyError, match=r"policy.toml: not valid TOML: .*line 4"):
        parse_policy(HEAD + "[[rules]\nname = 'a'\n", name="policy.toml")


def test_a_policy_needs_version_and_text():
    with pytest.raises(PolicyError, match=r"policy.toml:1: \[policy\] version"):
        parse_policy('[policy]\ntext = "t"\n', name="policy.toml")
    with pytest.raises(PolicyError, match="missing \\[policy\\] table"):
        parse_policy('[[rules]]\nname="a"\n', name="policy.toml")


def test_a_header_inside_the_policy_text_does_not_shift_rule_lines():
    source = (
        '[policy]\nversion = "1"\ntext = """Do not write\n[[rules]]\nin chats."""\n'
        '[[rules]]\nname = "bad"\npattern = "("\naction = "flag"\nreason = "r"\n'
    )
    with pytest.raises(PolicyError, match=r"policy.toml:6: rule 'bad'"):
        parse_policy(source, name="policy.toml")


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(PolicyError, match="no-such.toml"):
        load_policy(tmp_path / "no-such.toml")
