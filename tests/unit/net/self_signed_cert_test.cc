// write_self_signed(): the files load as a server context, the key is
// private, and a client that trusts the certificate verifies the name.
#include "net/self_signed_cert.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "net/tls_context.h"
#include "tests/unit/net/tls_test_support.h"

namespace xd::net {
namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/xd-net-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    for (const char* f : {"/cert.pem", "/key.pem"}) ::unlink((path + f).c_str());
    ::rmdir(path.c_str());
  }
};

void check_pair(const std::string& name) {
  TempDir dir;
  const std::string cert = dir.path + "/cert.pem";
  const std::string key = dir.path + "/key.pem";
  std::string error;
  REQUIRE_MESSAGE(write_self_signed(cert, key, name, error), error);
  struct stat st;
  REQUIRE(::stat(key.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  auto sctx = TlsContext::server(cert, key, error);
  REQUIRE_MESSAGE(sctx, error);
  auto cctx = TlsContext::client(cert, error);  // trust exactly this certificate
  REQUIRE_MESSAGE(cctx, error);
  test::MemoryTlsPair ok(*sctx, *cctx, name);
  CHECK(ok.handshake());
  test::MemoryTlsPair wrong(*sctx, *cctx, "other.example");
  wrong.pump();
  CHECK(wrong.client_status.code == NetError::kTlsCertificateInvalid);
}

TEST_SUITE("net.self_signed_cert") {
  TEST_CASE("a DNS name") { check_pair("xmpp.example.test"); }
  TEST_CASE("an IP literal") { check_pair("127.0.0.1"); }

  TEST_CASE("unwritable paths and empty names fail cleanly") {
    std::string error;
    CHECK_FALSE(write_self_signed("/nonexistent-dir/c.pem", "/nonexistent-dir/k.pem", "x", error));
    CHECK_FALSE(error.empty());
    error.clear();
    CHECK_FALSE(write_self_signed("/tmp/unused-c.pem", "/tmp/unused-k.pem", "", error));
    CHECK_FALSE(error.empty());
  }
}

}  // namespace
}  // namespace xd::net
