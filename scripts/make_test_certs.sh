#!/usr/bin/env bash
# Generates the TLS fixtures under tests/data/certs/ with the openssl CLI:
# a test CA, a server certificate for 'localhost' and 'example.com' signed
# with ECDSA/SHA-256, a second one signed with ECDSA/SHA-384 (so tests can
# check that tls-server-end-point follows the certificate's own signature
# hash, RFC 5929 §4.1), and an unrelated CA that must never verify them.
# Everything is valid for 100 years so the committed PEM files never expire
# under CI. These keys are public test fixtures: never use them elsewhere.
#
# Usage: scripts/make_test_certs.sh [output-dir]   (default tests/data/certs)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-tests/data/certs}
days=36500
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ec_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

# make_ca NAME CN
make_ca() {
  ec_key "$out/$1.key"
  openssl req -x509 -new -key "$out/$1.key" -sha256 -days "$days" \
    -subj "/O=xmppd tests/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$out/$1.pem"
}

# make_leaf NAME DIGEST: a server certificate signed by ca.pem with DIGEST.
make_leaf() {
  ec_key "$out/$1.key"
  openssl req -new -key "$out/$1.key" -subj "/O=xmppd tests/CN=localhost" -out "$tmp/$1.csr"
  cat > "$tmp/$1.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,DNS:example.com,IP:127.0.0.1,IP:::1
EXT
  openssl x509 -req -in "$tmp/$1.csr" -CA "$out/ca.pem" -CAkey "$out/ca.key" \
    -CAcreateserial -CAserial "$tmp/ca.srl" -"$2" -days "$days" \
    -extfile "$tmp/$1.ext" -out "$out/$1.pem"
}

make_ca ca "xmppd test CA"
make_ca other-ca "xmppd unrelated test CA"
make_leaf server sha256
make_leaf server-sha384 sha384
chmod 0644 "$out"/*.pem "$out"/*.key

for f in server server-sha384; do
  openssl verify -CAfile "$out/ca.pem" "$out/$f.pem"
done
echo "test certificates written to $out"
