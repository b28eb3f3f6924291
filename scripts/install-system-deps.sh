#!/bin/sh
# Install the Debian 12 system packages Hankebot's real local test servers need:
# Dovecot (IMAP + LMTP), Postfix (SMTP with AUTH), PostgreSQL, openssl, CPython's email test
# messages (libpython3.11-testsuite: a public mail corpus the classifier is tested on), and systemd
# (systemd-analyze verifies deploy/hankebot.service in the tests; installing it starts nothing in a container).
# Idempotent: exits at once when every package is already installed. Run as root.
set -eu

PACKAGES="dovecot-imapd dovecot-lmtpd postfix postgresql openssl libpython3.11-testsuite systemd"

missing=""
for p in $PACKAGES; do
    if ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed'; then
        missing="$missing $p"
    fi
done
if [ -z "$missing" ]; then
    echo "install-system-deps: all installed ($PACKAGES)"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-system-deps: missing:$missing -- run this script as root" >&2
    exit 1
fi
echo "install-system-deps: installing:$missing"

export DEBIAN_FRONTEND=noninteractive
# Postfix must not ask questions nor write a system-wide /etc/postfix/main.cf.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections

# Refresh the package lists only when there are none (fresh image) or installing fails.
if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
    apt-get update
fi
# shellcheck disable=SC2086
if ! apt-get install -y --no-install-recommends $missing; then
    apt-get update
    # shellcheck disable=SC2086
    apt-get install -y --no-install-recommends $missing
fi
echo "install-system-deps: done"
