#!/bin/bash
# make demo: bring up what exists of Homeport and show it working.
#
# Today that is: keys made by us and checked by wg(8) and minisign;
# homeport init setting up a home (configuration, certificate, DKIM keys,
# mail store) and a user; the edge and homeportd running; a sender's
# message going through the edge (STARTTLS answered by the edge, routed on
# the TLS server name) into the home's store, durably, with the real
# client address; the user reading it over IMAPS; reloading (a broken
# file refused with its exact line);
# stopping cleanly. Each later piece of Homeport adds its part here.
#
#   tests/demo.sh BUILD_DIR
set -euo pipefail
O=${1:-build}
cd "$(dirname "$0")/.."
REPO=$PWD
BIN=$PWD/$O/bin
DEMO=$PWD/build/demo
pids=()

# The edge drops root to "nobody" and reads its file again on SIGHUP as
# that user, so its directory is one nobody can read.
EDGE_DIR=$(mktemp -d /tmp/homeport-demo-edge.XXXXXX)
chmod 755 "$EDGE_DIR"

cleanup() {
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$EDGE_DIR"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

# Wait (at most 10 s) for a log line matching $2 in file $1; print it.
await() {
	for _ in $(seq 100); do
		if grep -E "$2" "$1"; then return 0; fi
		sleep 0.1
	done
	echo "demo: no log line matching '$2' in $1:" >&2
	cat "$1" >&2
	return 1
}

rm -rf "$DEMO"
mkdir -p "$DEMO/home/keys"
chmod 700 "$DEMO/home/keys"
cd "$DEMO"
ln -s "$EDGE_DIR" edge

step "WireGuard keys for the home and the edge (ours, checked by wg pubkey)"
for side in home edge; do
	(umask 077; "$BIN/homeport" keys wg-genkey > $side/wg.key)
	"$BIN/homeport" keys wg-pubkey < $side/wg.key > $side/wg.pub
	if [ "$(wg pubkey < $side/wg.key)" != "$(cat $side/wg.pub)" ]; then
		echo "demo: wg pubkey disagrees with homeport keys wg-pubkey" >&2
		exit 1
	fi
	echo "$side public key $(cat $side/wg.pub)  (wg pubkey agrees)"
done

step "An update signed by us, verified by Debian's minisign"
"$BIN/homeport" keys sign-genkey -p update.pub -s update.key > /dev/null
echo "homeport 0.1 update payload" > update.tar
show "$BIN/homeport" keys sign -s update.key -t "homeport 0.1" update.tar
show minisign -V -p update.pub -m update.tar
echo "tampered" >> update.tar
if minisign -V -q -p update.pub -m update.tar 2>/dev/null; then
	echo "demo: a tampered update verified" >&2
	exit 1
fi
echo "tampered copy: minisign refuses it, as it must"

step "homeport init: configuration, state, bootstrap certificate, DKIM keys, mail store"
show "$BIN/homeport" -c home/homeportd.conf init --domain example.test --hostname mail.example.test \
	--state-dir "$DEMO/home/state"
openssl x509 -in home/state/keys/tls.crt -noout -subject -ext subjectAltName -enddate
printf 'ed25519._domainkey.example.test. TXT "%s"\n' \
	"$("$BIN/homeport" keys dkim-record home/state/keys/dkim/example.test.ed25519.key)"

step "Relay mode on this machine: the edge on 127.0.0.1, the home behind it on 127.0.0.3"
# init wrote direct-mode listeners (every address, ports 25/587/465). Here
# the "tunnel" is loopback: homeportd listens on 127.0.0.3:2527 and takes
# connections only from the edge (127.0.0.1), with a PROXY v2 header.
# homeportd binds as root, then runs as [home] user: nobody here.
if [ "$(id -u)" = 0 ]; then HOME_USER=nobody; else HOME_USER=$(id -un); fi
sed -i -e "s/^user = homeport$/user = $HOME_USER/" -e '/^\[listener mx\]/,$d' home/homeportd.conf
cat >> home/homeportd.conf <<CONF
[listener mx]
address = 127.0.0.3:2527
mode = smtp
proxy = yes
proxy_from = 127.0.0.1

[listener imaps]
address = 127.0.0.3:2993
mode = imaps
CONF
if [ "$(id -u)" = 0 ]; then chown "$HOME_USER" home/state home/state/mail.db; fi
cat > edge/edge.conf <<CONF
[edge]
name = relay.example.net
user = nobody

[listener mx]
address = 127.0.0.1:2525
mode = starttls
tenant_port = 2527

[tenant example]
hostnames = mail.example.test
tunnel_address = 127.0.0.3
CONF
chmod 644 edge/edge.conf
show "$BIN/homeportd" -c home/homeportd.conf --check
show "$BIN/homeport-edge" -c edge/edge.conf --check

step "A user, with a generated password printed once"
printf '$ %s\n' "$BIN/homeport -c home/homeportd.conf user add alice@example.test --quota 2G"
added=$("$BIN/homeport" -c home/homeportd.conf user add alice@example.test --quota 2G)
echo "$added"
ALICE_PASSWORD=$(sed -n 's/^password: //p' <<<"$added")
show "$BIN/homeport" -c home/homeportd.conf alias add postmaster@example.test alice@example.test
show "$BIN/homeport" -c home/homeportd.conf user list

step "Both daemons running"
"$BIN/homeport-edge" -c edge/edge.conf 2> edge/log &
pids+=($!)
"$BIN/homeportd" -c home/homeportd.conf 2> home/log &
pids+=($!)
await edge/log 'event=start result=ok'
await home/log 'event=start result=ok'

step "A sender delivers through the edge: STARTTLS answered by the edge, TLS and SMTP by the home"
python3 "$REPO/tests/demo_mail.py" home/state/keys/tls.crt 2525 home/state/mail.db postmaster@example.test \
	alice@example.test
await edge/log 'event=relay .*tenant=example by=name'
await home/log 'event=message result=accepted'

edge_sid=$(sed -n 's/.* sid=\([0-9a-f]*\) event=relay .*tenant=example.*/\1/p' edge/log | head -n1)
echo "the same connection in the home's log, by the edge's id $edge_sid:"
await home/log "event=session .*edge_sid=\"$edge_sid\""

step "Alice reads it over IMAPS from the home (LOGIN, SELECT, SEARCH, FETCH)"
python3 "$REPO/tests/demo_imap.py" home/state/keys/tls.crt 127.0.0.3 2993 alice@example.test \
	"$ALICE_PASSWORD" "Hello through the edge"
await home/log 'event=session listener=imaps .*user="alice@example.test"'

step "A broken edit, then SIGHUP: refused with its line, the running configuration kept"
cp edge/edge.conf edge/edge.conf.good
sed -i 's/mode = starttls/mode = startls/' edge/edge.conf
printf '$ homeport-edge --check\n'
"$BIN/homeport-edge" -c edge/edge.conf --check || true
kill -HUP "${pids[0]}"
await edge/log 'event=reload result=failed'

step "Fixed and reloaded"
cp edge/edge.conf.good edge/edge.conf
kill -HUP "${pids[0]}"
await edge/log 'event=reload result=ok'

step "Stopped by SIGTERM"
for i in 1 0; do
	kill -TERM "${pids[$i]}"
	wait "${pids[$i]}"
done
pids=()
tail -n1 edge/log home/log

printf '\n\033[1mdemo: OK\033[0m (files in %s)\n' "$DEMO"
