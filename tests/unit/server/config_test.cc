#include "server/config.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

using namespace xd::server;

namespace {

std::string write_temp(const std::string& text) {
  char path[] = "/tmp/xd-config-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  std::ofstream(path) << text;
  return path;
}

}  // namespace

TEST_CASE("config: a file sets values; absent keys keep their defaults") {
  std::string path = write_temp(
      "[server]\ndomain = \"example.com\"\nlisten = [\"127.0.0.1:5222\"]\n"
      "allow_registration = true\n[limits]\nmax_stanza_bytes = 65536\n");
  ServerConfig c;
  std::string error;
  REQUIRE(load_config_file(path, c, error));
  CHECK(c.domain == "example.com");
  CHECK(c.listen == std::vector<std::string>{"127.0.0.1:5222"});
  CHECK(c.allow_registration);
  CHECK(c.max_stanza_bytes == 65536);
  CHECK(c.max_depth == 64);
  std::remove(path.c_str());
}

TEST_CASE("config: errors name the key and the line") {
  ServerConfig c;
  std::string error;
  std::string unknown = write_temp("[server]\ndomain = \"x\"\n\nmax_stanza = 3\n");
  CHECK_FALSE(load_config_file(unknown, c, error));
  CHECK(error.find(":4:") != std::string::npos);
  CHECK(error.find("server.max_stanza") != std::string::npos);
  std::string wrong_type = write_temp("[limits]\nmax_depth = \"deep\"\n");
  CHECK_FALSE(load_config_file(wrong_type, c, error));
  CHECK(error.find(":2:") != std::string::npos);
  CHECK(error.find("limits.max_depth") != std::string::npos);
  CHECK(error.find("integer") != std::string::npos);
  std::string out_of_bounds = write_temp("[limits]\nmax_depth = 1000000\n");
  CHECK_FALSE(load_config_file(out_of_bounds, c, error));
  CHECK(error.find("between") != std::string::npos);
  std::string syntax = write_temp("[server\n");
  CHECK_FALSE(load_config_file(syntax, c, error));
  CHECK(error.find(":1") != std::string::npos);
  for (auto& p : {unknown, wrong_type, out_of_bounds, syntax}) std::remove(p.c_str());
}

TEST_CASE("config: --set overrides use the same bounds") {
  ServerConfig c;
  std::string error;
  CHECK(apply_overrides({"read_rate_bytes=0", "sessions_per_account=3"}, c, error));
  CHECK(c.read_rate_bytes == 0);
  CHECK(c.sessions_per_account == 3);
  CHECK_FALSE(apply_overrides({"sessions_per_account=0"}, c, error));
  CHECK_FALSE(apply_overrides({"no_such_key=1"}, c, error));
  CHECK_FALSE(apply_overrides({"garbage"}, c, error));
}

TEST_CASE("config: validation of cross-field rules and the domain") {
  ServerConfig c;
  std::string error;
  c.listen = {"127.0.0.1:5222"};
  CHECK_FALSE(validate_config(c, error));  // no certificate and no allow_plaintext
  c.allow_plaintext = true;
  c.domain = "EXAMPLE.com.";
  CHECK(validate_config(c, error));
  CHECK(c.domain == "example.com");
  c.domain = "user@example.com";
  CHECK_FALSE(validate_config(c, error));
  c.domain = "example.com";
  c.tls_listen = {"127.0.0.1:5223"};
  CHECK_FALSE(validate_config(c, error));  // direct TLS needs a certificate
}

TEST_CASE("config: describe_config lists every setting") {
  ServerConfig c;
  std::string text = describe_config(c);
  CHECK(text.find("[server]") != std::string::npos);
  CHECK(text.find("[limits]") != std::string::npos);
  CHECK(text.find("max_stanza_bytes = 262144") != std::string::npos);
  CHECK(text.find("domain = \"localhost\"") != std::string::npos);
}

TEST_CASE("config: --print-config output loads back to the same values, odd strings included") {
  ServerConfig c;
  c.domain = "\nleading newline \"quoted\" back\\slash \x01 tab\t";
  c.listen = {"127.0.0.1:5222", "[::1]:5222\n"};
  std::string text = describe_config(c);
  ServerConfig again;
  std::string error;
  REQUIRE(load_config_text(text, "printed.toml", again, error));
  CHECK(again.domain == c.domain);
  CHECK(again.listen == c.listen);
  CHECK(describe_config(again) == text);
}

TEST_CASE("config: the E2E key directory limits (spec/e2e-keys.md §8)") {
  ServerConfig c;
  CHECK(c.e2e_max_devices == 16);
  CHECK(c.e2e_max_prekeys == 100);
  std::string error;
  REQUIRE(load_config_text("[limits]\ne2e_max_devices = 4\ne2e_max_prekeys = 250\n", "k.toml", c,
                           error));
  CHECK(c.e2e_max_devices == 4);
  CHECK(c.e2e_max_prekeys == 250);
  CHECK(apply_overrides({"e2e_max_devices=64", "e2e_max_prekeys=1"}, c, error));
  CHECK(c.e2e_max_devices == 64);
  CHECK(c.e2e_max_prekeys == 1);
  // A claim result lists at most 64 bundles, so no more devices than that.
  CHECK_FALSE(apply_overrides({"e2e_max_devices=65"}, c, error));
  CHECK(error.find("e2e_max_devices") != std::string::npos);
  CHECK_FALSE(load_config_text("[limits]\n\ne2e_max_prekeys = 0\n", "k.toml", c, error));
  CHECK(error.find("limits.e2e_max_prekeys") != std::string::npos);
  CHECK(error.find(":3:") != std::string::npos);
  CHECK_FALSE(load_config_text("[limits]\ne2e_max_prekeys = 1001\n", "k.toml", c, error));
  CHECK(c.e2e_max_prekeys == 1);
  const std::string text = describe_config(ServerConfig{});
  CHECK(text.find("e2e_max_devices = 16") != std::string::npos);
  CHECK(text.find("e2e_max_prekeys = 100") != std::string::npos);
}

TEST_CASE("config: the per-IP connect rate (catalogue I59) is a setting") {
  ServerConfig c;
  CHECK(c.connects_per_ip_second == 5);
  CHECK(c.connect_burst_per_ip == 20);
  std::string error;
  REQUIRE(load_config_text("[limits]\nconnects_per_ip_second = 0\nconnect_burst_per_ip = 3\n",
                           "r.toml", c, error));
  CHECK(c.connects_per_ip_second == 0);  // no rate cap
  CHECK(c.connect_burst_per_ip == 3);
  CHECK(apply_overrides({"connects_per_ip_second=1", "connect_burst_per_ip=10"}, c, error));
  CHECK(c.connects_per_ip_second == 1);
  CHECK(c.connect_burst_per_ip == 10);
  // A bucket that holds no token would refuse every connection.
  CHECK_FALSE(apply_overrides({"connect_burst_per_ip=0"}, c, error));
  CHECK(error.find("connect_burst_per_ip") != std::string::npos);
  CHECK_FALSE(apply_overrides({"connects_per_ip_second=-1"}, c, error));
  const std::string text = describe_config(ServerConfig{});
  CHECK(text.find("connects_per_ip_second = 5") != std::string::npos);
  CHECK(text.find("connect_burst_per_ip = 20") != std::string::npos);
}

TEST_CASE("config: the metrics endpoint is off by default and set by [server] metrics") {
  ServerConfig c;
  CHECK(c.metrics.empty());
  std::string error;
  REQUIRE(
      load_config_text("[server]\nmetrics = \"127.0.0.1:9100\"\n[limits]\n"
                       "metrics_max_connections = 2\nmetrics_request_timeout_ms = 500\n",
                       "t.toml", c, error));
  CHECK(c.metrics == "127.0.0.1:9100");
  CHECK(c.metrics_max_connections == 2);
  CHECK(c.metrics_request_timeout_ms == 500);
  c.allow_plaintext = true;
  c.listen = {"127.0.0.1:5222"};
  CHECK(validate_config(c, error));
  // --print-config shows it, and what it prints loads back.
  const std::string described = describe_config(c);
  CHECK(described.find("\nmetrics = \"127.0.0.1:9100\"\n") != std::string::npos);
  CHECK(described.find("\nmetrics_max_connections = 2\n") != std::string::npos);
  ServerConfig again;
  REQUIRE(load_config_text(described, "again.toml", again, error));
  CHECK(again.metrics == c.metrics);
  CHECK(describe_config(ServerConfig{}).find("\nmetrics = \"\"\n") != std::string::npos);
}

TEST_CASE("config: a metrics address that is not HOST:PORT fails validation") {
  for (const char* bad : {"9100", "localhost", "127.0.0.1:", "127.0.0.1:99999", "::1:9100"}) {
    INFO(bad);
    ServerConfig c;
    c.allow_plaintext = true;
    c.listen = {"127.0.0.1:5222"};
    c.metrics = bad;
    std::string error;
    CHECK_FALSE(validate_config(c, error));
    CHECK(error.find("server.metrics") != std::string::npos);
  }
  std::string error;
  ServerConfig c;
  CHECK_FALSE(load_config_text("[limits]\nmetrics_max_connections = 0\n", "t.toml", c, error));
  CHECK(error.find("metrics_max_connections") != std::string::npos);
}

TEST_CASE("config: early delivery (spec/delivery.md §1.5) is on by default and can be turned off") {
  ServerConfig c;
  CHECK(c.early_delivery);
  std::string error;
  REQUIRE(apply_overrides({"early_delivery=false"}, c, error));
  CHECK_FALSE(c.early_delivery);
  REQUIRE(apply_overrides({"early_delivery=true"}, c, error));
  CHECK(c.early_delivery);
  CHECK_FALSE(apply_overrides({"early_delivery=2"}, c, error));
}
