#!/usr/bin/env bash
# Give CI a real Postfix on 127.0.0.1:25 that offers STARTTLS with a certificate
# from a private test CA and delivers mail for alice/bob@example.org to local
# Maildirs, so tests/postfix/run.sh can check a digest end to end.
# Runs as root on a fresh Debian 12 machine; safe to run again.
set -euo pipefail

CERT_DIR=/etc/feed-digest-test
MAILNAME=localhost.localdomain

if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: must run as root" >&2
    exit 1
fi

# --- packages -------------------------------------------------------------
export DEBIAN_FRONTEND=noninteractive
# Preseed so the postfix postinst never prompts and sets up a local-only MTA.
debconf-set-selections <<SEL
postfix postfix/main_mailer_type select Local only
postfix postfix/mailname string $MAILNAME
SEL
if ! dpkg-query -W -f='${Status}\n' postfix openssl ca-certificates 2>/dev/null \
        | grep -c 'install ok installed' | grep -qx 3; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends postfix openssl ca-certificates >/dev/null
fi
echo "setup: postfix $(postconf -h mail_version), $(openssl version | cut -d' ' -f1-2) installed"

# --- test CA and server certificate -----------------------------------------
install -d -m 0755 "$CERT_DIR"
if ! { [ -s "$CERT_DIR/ca.pem" ] && [ -s "$CERT_DIR/server.key" ] && [ -s "$CERT_DIR/server.pem" ] \
        && openssl verify -CAfile "$CERT_DIR/ca.pem" "$CERT_DIR/server.pem" >/dev/null 2>&1; }; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    # rustls (used by feed-digest) rejects v1 or constraint-less certificates,
    # so both carry explicit v3 extensions.
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$tmp/ca.key" -out "$tmp/ca.pem" -days 3650 -subj "/CN=feed-digest test CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$tmp/server.key" -out "$tmp/server.csr" -subj "/CN=localhost" 2>/dev/null
    cat > "$tmp/server.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
EXT
    openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" \
        -CAcreateserial -days 3650 -extfile "$tmp/server.ext" -out "$tmp/server.pem" 2>/dev/null
    # The CA key is thrown away: nothing else should ever be signed by this CA.
    install -m 0644 "$tmp/ca.pem" "$tmp/server.pem" "$CERT_DIR/"
    install -m 0600 "$tmp/server.key" "$CERT_DIR/"
    echo "setup: generated test CA and localhost certificate in $CERT_DIR"
else
    echo "setup: reusing test CA and localhost certificate in $CERT_DIR"
fi

# --- local recipients -------------------------------------------------------
for user in alice bob; do
    id "$user" >/dev/null 2>&1 || useradd -m -s /usr/sbin/nologin "$user"
done

# --- postfix configuration --------------------------------------------------
# IPv4 only: CI machines (and sandboxes) may lack an IPv6 loopback, which makes
# postfix refuse to start; the client falls back from ::1 to 127.0.0.1.
# No DNS anywhere: all mail is local, and CI may have no resolver.
postconf -e \
    "myhostname = $MAILNAME" \
    "mydestination = \$myhostname, localhost, localhost.localdomain, example.org" \
    "inet_interfaces = loopback-only" \
    "inet_protocols = ipv4" \
    "mynetworks = 127.0.0.0/8" \
    "relayhost =" \
    "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination" \
    "smtp_dns_support_level = disabled" \
    "smtp_host_lookup = native" \
    "smtpd_peername_lookup = no" \
    "home_mailbox = Maildir/" \
    "mailbox_command =" \
    "smtpd_tls_cert_file = $CERT_DIR/server.pem" \
    "smtpd_tls_key_file = $CERT_DIR/server.key" \
    "smtpd_tls_security_level = may" \
    "smtpd_tls_received_header = yes" \
    "maillog_file = /var/log/postfix.log"
# run.sh looks for "(using TLS..." in Received:, which needs the header above.
# Without Debian's init script nothing copies /etc files into the chroot, so
# run every service unchrooted.
postconf -F '*/*/chroot = n'
echo "$MAILNAME" > /etc/mailname
newaliases
postfix check

# --- (re)start without systemd ---------------------------------------------
# A full stop/start (not reload) so inet_interfaces changes take effect.
if postfix status >/dev/null 2>&1; then
    postfix stop >/dev/null 2>&1
    for _ in $(seq 50); do postfix status >/dev/null 2>&1 || break; sleep 0.2; done
fi
postfix start

for _ in $(seq 30); do
    if (exec 3<>/dev/tcp/127.0.0.1/25) 2>/dev/null; then
        echo "setup: postfix listening on 127.0.0.1:25 (STARTTLS, local delivery for alice/bob@example.org)"
        exit 0
    fi
    sleep 0.2
done
echo "setup: postfix did not start listening on 127.0.0.1:25" >&2
tail -n 20 /var/log/postfix.log 2>/dev/null >&2 || true
exit 1
