#include "client/loadgen/load_runner.h"

#include <algorithm>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <utility>

#include "client/loadgen/measure.h"
#include "protocol/xml/serializer.h"

namespace xd::client {
namespace {

// Parses "seq:timestamp_ns"; false for anything else.
bool parse_body(std::string_view body, std::uint64_t& seq, std::uint64_t& ts) {
  const std::size_t colon = body.find(':');
  if (colon == std::string_view::npos) return false;
  const char* end = body.data() + colon;
  auto r1 = std::from_chars(body.data(), end, seq);
  if (r1.ec != std::errc() || r1.ptr != end) return false;
  auto r2 = std::from_chars(end + 1, body.data() + body.size(), ts);
  return r2.ec == std::errc() && r2.ptr == body.data() + body.size();
}

}  // namespace

LoadRunner::LoadRunner(net::NetLoop& loop, const LoadOptions& options)
    : loop_(&loop), options_(options) {}

LoadRunner::~LoadRunner() {
  shutdown();
  for (auto& [name, entry] : key_cache_) protocol::scram_wipe_cache_entry(entry);
}

void LoadRunner::shutdown() {
  timer_.reset();
  end_timer_.reset();
  deadline_.reset();
  sigint_.reset();
  sigterm_.reset();
  closing_ = true;
  // Connection destructors release sockets without calling back.
  sessions_.clear();
}

SessionConfig base_session_config(const LoadOptions& options, const net::TlsContext* tls) {
  SessionConfig config;
  config.server = options.server;
  config.domain = options.domain;
  config.password = options.password;
  config.mech = options.mech;
  config.tls = tls;
  config.direct_tls = options.direct_tls;
  config.tls_host = options.tls_host;
  config.channel_binding = options.channel_binding;
  config.compact = options.dialect != "xml";
  config.compact_compression = options.compression;
  return config;
}

SessionConfig LoadRunner::config_for(std::size_t index) const {
  SessionConfig config = base_session_config(options_, tls_.get());
  const std::size_t users = std::max<std::size_t>(options_.users, 1);
  std::size_t user = (options_.first_index + index) % users;
  // Resource "<tag><number>"; a char buffer sidesteps GCC 12's false
  // -Wrestrict on short std::string concatenation (PR 105329).
  char tag = options_.mode == LoadMode::kLogin ? 'l' : 'i';
  std::size_t number = options_.first_index + index;
  if (options_.mode == LoadMode::kRegister) {
    // XEP-0077: one new account per connection, PREFIX<first+index>.
    config.register_account = true;
    user = number;
    tag = 'g';
  } else if (options_.mode == LoadMode::kThroughput || options_.mode == LoadMode::kLatency) {
    // Sessions alternate sender, receiver; the receiver of pair i is on
    // the next account so messages cross accounts when users > 1.
    number = index / 2;
    const bool receiver = index % 2 == 1;
    user = (number + (receiver ? 1 : 0)) % users;
    tag = receiver ? 'r' : 's';
    if (options_.dialect == "mixed" && receiver) config.compact = false;
    if (receiver && !options_.receiver_server.empty()) config.server = options_.receiver_server;
  }
  char resource[32];
  const int n = std::snprintf(resource, sizeof resource, "%c%zu", tag, number);
  config.resource.assign(resource, static_cast<std::size_t>(n));
  char username[32];
  const int m = std::snprintf(username, sizeof username, "%zu", user);
  config.username = options_.user_prefix;
  config.username.append(username, static_cast<std::size_t>(m));
  return config;
}

bool LoadRunner::start(std::string& error) {
  if (options_.tls || options_.direct_tls) {
    net::TlsClientOptions tls_options;
    // XEP-0368 §3: direct TLS names the protocol in ALPN; STARTTLS does not.
    if (options_.direct_tls) tls_options.alpn = {"xmpp-client"};
    tls_ = net::TlsContext::client(options_.ca_file, error, tls_options);
    if (!tls_) return false;
  }
  const bool paired = options_.mode == LoadMode::kThroughput || options_.mode == LoadMode::kLatency;
  total_ = paired ? 2 * options_.pairs : options_.connections;
  if (total_ == 0) {
    error = "nothing to do (0 connections)";
    return false;
  }
  if (options_.mode == LoadMode::kLatency && !(options_.rate > 0)) {
    error = "latency needs --rate > 0";
    return false;
  }
  if (options_.mode == LoadMode::kLogin && options_.key_cache &&
      options_.mech != SaslMech::kPlain) {
    // One unmeasured login per account fills the SaltedPassword cache.
    warming_ = true;
    total_ = std::min(total_, std::max<std::size_t>(options_.users, 1));
    warm_logins_ = total_;
  }
  sessions_.reserve(total_);
  if (paired) pairs_.resize(options_.pairs);
  auto stop = [this] {
    std::fprintf(stderr, "xd-loadgen: interrupted\n");
    finish(exit_code_ ? exit_code_ : (options_.mode == LoadMode::kIdle ? 0 : 1));
  };
  sigint_ = std::make_unique<net::SignalWatcher>(*loop_, SIGINT, stop);
  sigterm_ = std::make_unique<net::SignalWatcher>(*loop_, SIGTERM, stop);
  sigint_->unref();
  sigterm_->unref();
  deadline_ = std::make_unique<net::Timer>(*loop_, [this] {
    std::fprintf(stderr, "xd-loadgen: logins timed out: %zu bound, %zu failed of %zu\n", bound_,
                 failed_, total_);
    finish(1);
  });
  deadline_->start(static_cast<std::uint64_t>(options_.login_timeout * 1000));
  login_start_ns_ = now_ns();
  pump();
  if (next_ == 0) {
    error = "could not start any connection";
    return false;
  }
  return true;
}

void LoadRunner::pump() {
  while (!finished_ && in_progress_ < options_.concurrency && next_ < total_) {
    const std::size_t index = next_++;
    SessionConfig config = config_for(index);
    if (options_.key_cache && options_.mech != SaslMech::kPlain && !config.register_account) {
      config.scram_key_cache = &key_cache_[config.username];
    }
    sessions_.push_back(std::make_unique<LoginSession>(*loop_, config, *this, index));
    std::string error;
    if (!sessions_.back()->start(error)) {
      if (failed_ < 5) std::fprintf(stderr, "xd-loadgen: connect: %s\n", error.c_str());
      ++failed_;
      continue;
    }
    ++in_progress_;
  }
  if (!logins_finished_ && bound_ + failed_ == total_) logins_done();
}

void LoadRunner::on_bound(LoginSession& session) {
  --in_progress_;
  ++bound_;
  if (session.compact()) ++compact_;
  if (tls_version_.empty()) tls_version_ = session.tls_version();
  if (options_.mode == LoadMode::kLogin || options_.mode == LoadMode::kRegister) session.close();
  pump();
}

void LoadRunner::on_ended(LoginSession& session, std::string_view reason) {
  if (closing_) return;
  if (session.was_bound()) {
    if (options_.mode != LoadMode::kLogin && options_.mode != LoadMode::kRegister && !finished_) {
      ++dropped_;
      if (dropped_ <= 5)
        std::fprintf(stderr, "xd-loadgen: %s dropped: %.*s\n", session.jid().c_str(),
                     static_cast<int>(reason.size()), reason.data());
    }
    return;
  }
  // Never bound: a failed login.
  --in_progress_;
  ++failed_;
  if (failed_ <= 5)
    std::fprintf(stderr, "xd-loadgen: login %zu failed: %.*s\n", session.tag(),
                 static_cast<int>(reason.size()), reason.data());
  pump();
}

void LoadRunner::logins_done() {
  logins_finished_ = true;
  login_end_ns_ = now_ns();
  deadline_->stop();
  if (warming_) {
    std::printf(
        "login-warmup: ok=%zu failed=%zu seconds=%.3f (SaltedPassword cached per account)\n",
        bound_, failed_, seconds_between(login_start_ns_, login_end_ns_));
    std::fflush(stdout);
    if (failed_ > 0) {
      finish(1);
      return;
    }
    // Not from here: this runs inside a session's callback, and the
    // restart destroys the sessions of the warm-up round.
    timer_ = std::make_unique<net::Timer>(*loop_, [this] { restart_measured_logins(); });
    timer_->start(0);
    return;
  }
  const double secs = seconds_between(login_start_ns_, login_end_ns_);
  const double rate = secs > 0 ? static_cast<double>(bound_) / secs : 0;
  const std::string_view mech = sasl_mech_name(options_.mech);
  const bool plus = sasl_mech_is_plus(options_.mech);
  std::printf(
      "%s-logins: ok=%zu failed=%zu seconds=%.3f logins_per_s=%.0f mech=%.*s cb=%s tls=%d "
      "transport=%s tls_version=%s concurrency=%zu compact=%zu\n",
      options_.mode == LoadMode::kLogin        ? "login"
      : options_.mode == LoadMode::kRegister   ? "register"
      : options_.mode == LoadMode::kThroughput ? "throughput"
      : options_.mode == LoadMode::kLatency    ? "latency"
                                               : "idle",
      bound_, failed_, secs, rate, static_cast<int>(mech.size()), mech.data(),
      plus ? options_.channel_binding.c_str() : "none", options_.tls || options_.direct_tls ? 1 : 0,
      options_.direct_tls ? "direct-tls"
      : options_.tls      ? "starttls"
                          : "plain",
      tls_version_.empty() ? "none" : tls_version_.c_str(), options_.concurrency, compact_);
  std::fflush(stdout);
  if (failed_ > 0) exit_code_ = 1;
  if (bound_ == 0 && options_.mode != LoadMode::kLogin) {
    std::fprintf(stderr, "xd-loadgen: no session bound\n");
    finish(1);
    return;
  }
  switch (options_.mode) {
    case LoadMode::kRegister:
    case LoadMode::kLogin:
      finish(exit_code_);
      break;
    case LoadMode::kThroughput:
    case LoadMode::kLatency:
      start_traffic();
      break;
    case LoadMode::kIdle:
      for (auto& session : sessions_) {
        if (session->bound()) session->hibernate();
      }
      std::printf("idle: all-bound=%zu holding=%s\n", bound_,
                  options_.hold_seconds > 0 ? "timer" : "until-signal");
      std::fflush(stdout);
      if (options_.hold_seconds > 0) {
        timer_ = std::make_unique<net::Timer>(*loop_, [this] { finish(exit_code_); });
        timer_->start(static_cast<std::uint64_t>(options_.hold_seconds * 1000));
      } else {
        // Only the signals keep the loop waiting now.
        timer_ = std::make_unique<net::Timer>(*loop_, [] {});
        timer_->start_repeating(3'600'000, 3'600'000);
      }
      break;
    case LoadMode::kStore:
    case LoadMode::kBacklog:
      // DeliveryRunner's modes; main() never gives them to this runner.
      finish(2);
      break;
  }
}

void LoadRunner::restart_measured_logins() {
  warming_ = false;
  sessions_.clear();
  total_ = options_.connections;
  sessions_.reserve(total_);
  next_ = 0;
  in_progress_ = 0;
  bound_ = 0;
  failed_ = 0;
  compact_ = 0;
  logins_finished_ = false;
  deadline_->start(static_cast<std::uint64_t>(options_.login_timeout * 1000));
  login_start_ns_ = now_ns();
  pump();
}

void LoadRunner::start_traffic() {
  for (std::size_t k = 0; k < sessions_.size(); ++k) {
    LoginSession* session = sessions_[k].get();
    Pair& pair = pairs_[session->tag() / 2];
    (session->tag() % 2 == 0 ? pair.sender : pair.receiver) = session;
  }
  std::size_t active = 0;
  for (Pair& pair : pairs_) {
    if (!pair.sender || !pair.receiver || !pair.sender->bound() || !pair.receiver->bound() ||
        pair.receiver->jid().empty())
      continue;
    pair.active = true;
    ++active;
    pair.prefix = "<message type='chat' to='";
    protocol::append_escaped_attr(pair.prefix, pair.receiver->jid());
    pair.prefix += "'><body>";
  }
  latencies_ns_.reserve(1 << 20);
  measuring_ = true;
  window_start_ns_ = now_ns();
  std::fprintf(stderr, "xd-loadgen: %zu pairs active, measuring %.1f s\n", active,
               options_.seconds);
  end_timer_ = std::make_unique<net::Timer>(*loop_, [this] { end_window(); });
  end_timer_->start(static_cast<std::uint64_t>(options_.seconds * 1000));
  if (options_.mode == LoadMode::kLatency) {
    for (Pair& pair : pairs_) {
      if (pair.active) active_pairs_.push_back(&pair);
    }
    if (active_pairs_.empty()) return;
    // Open loop: a 1 ms timer sends whatever the schedule says is due.
    timer_ = std::make_unique<net::Timer>(*loop_, [this] { pace(); });
    timer_->start_repeating(1, 1);
    pace();
    return;
  }
  for (Pair& pair : pairs_) {
    if (!pair.active) continue;
    for (std::size_t w = 0; w < options_.window; ++w) send_next(pair, now_ns());
  }
}

// Message k is due at start + k / rate. It carries the time it was handed
// to the connection (writes never block, so a slow server cannot delay
// that: its backlog shows in the latency), and how late that was against
// its due time is reported apart as the pacer's lag: libuv timers tick in
// whole milliseconds, which would otherwise add up to a millisecond to
// every latency at low rates.
void LoadRunner::pace() {
  if (!measuring_) return;
  const double per_ns = options_.rate / 1e9;
  const std::uint64_t now = now_ns();
  // Messages 0..due-1 are due: message k at start + k / rate, so message 0
  // at once.
  // The window [start, start + seconds) holds rate * seconds of them: the
  // one due exactly at its end belongs to the next window (the end timer
  // and this tick can fire in the same loop iteration).
  const auto in_window = static_cast<std::uint64_t>(options_.rate * options_.seconds + 0.5);
  const auto due = std::min<std::uint64_t>(
      in_window,
      static_cast<std::uint64_t>(static_cast<double>(now - window_start_ns_) * per_ns) + 1);
  while (paced_ < due) {
    const auto due_ns =
        window_start_ns_ + static_cast<std::uint64_t>(static_cast<double>(paced_) / per_ns);
    ++paced_;
    Pair& pair = *active_pairs_[pace_pair_];
    pace_pair_ = (pace_pair_ + 1) % active_pairs_.size();
    const std::uint64_t sent_ns = now_ns();
    lags_ns_.push_back(sent_ns > due_ns ? sent_ns - due_ns : 0);
    send_next(pair, sent_ns);
  }
}

void LoadRunner::send_next(Pair& pair, std::uint64_t stamp_ns) {
  char tail[64];
  const std::uint64_t seq = pair.sent++;
  const int n = std::snprintf(tail, sizeof tail, "%llu:%llu</body></message>",
                              static_cast<unsigned long long>(seq),
                              static_cast<unsigned long long>(stamp_ns));
  std::string stanza;
  stanza.reserve(pair.prefix.size() + static_cast<std::size_t>(n));
  stanza += pair.prefix;
  stanza.append(tail, static_cast<std::size_t>(n));
  pair.sender->send(stanza);
}

void LoadRunner::on_message(LoginSession& session, const protocol::Element& message) {
  if (pairs_.empty()) return;
  Pair& pair = pairs_[session.tag() / 2];
  if (!pair.active) return;
  if (message.attr_or("type") == "error" || session.tag() % 2 == 0) {
    // A bounce comes back to the sender.
    ++pair.bounced;
    return;
  }
  const protocol::Element* body = message.child("body", "jabber:client");
  std::uint64_t seq = 0, ts = 0;
  if (!body || !parse_body(body->text(), seq, ts) || seq >= pair.sent) return;
  if (pair.seen.size() <= seq)
    pair.seen.resize(std::max<std::size_t>(seq + 1, pair.seen.size() * 2));
  if (pair.seen[seq]) {
    ++pair.duplicates;
    return;
  }
  pair.seen[seq] = true;
  ++pair.received;
  if (static_cast<std::int64_t>(seq) < pair.max_seen) {
    ++pair.reordered;
  } else {
    pair.max_seen = static_cast<std::int64_t>(seq);
  }
  const std::uint64_t now = now_ns();
  if (options_.mode == LoadMode::kLatency) {
    // Every paced message counts, also those that land after the window.
    latencies_ns_.push_back(now - ts);
    if (measuring_) {
      ++received_in_window_;
    } else if (!finished_) {
      check_drained();
    }
    return;
  }
  if (measuring_) {
    ++received_in_window_;
    latencies_ns_.push_back(now - ts);
    send_next(pair, now_ns());
  } else if (!finished_) {
    check_drained();
  }
}

void LoadRunner::end_window() {
  if (options_.mode == LoadMode::kLatency) pace();  // what fell due up to now
  measuring_ = false;
  window_end_ns_ = now_ns();
  grace_start_ms_ = loop_->now_ms();
  timer_ = std::make_unique<net::Timer>(*loop_, [this] { check_drained(); });
  timer_->start_repeating(20, 20);
}

void LoadRunner::check_drained() {
  std::uint64_t outstanding = 0;
  for (const Pair& pair : pairs_) {
    if (pair.active) outstanding += pair.sent - pair.received;
  }
  const bool grace_over = loop_->now_ms() - grace_start_ms_ >=
                          static_cast<std::uint64_t>(options_.grace_seconds * 1000);
  if (outstanding == 0 || grace_over) finish_traffic();
}

void LoadRunner::finish_traffic() {
  std::uint64_t sent = 0, received = 0, lost = 0, dups = 0, reordered = 0, bounced = 0;
  std::size_t active = 0, bad_pairs = 0;
  for (std::size_t i = 0; i < pairs_.size(); ++i) {
    const Pair& pair = pairs_[i];
    if (!pair.active) continue;
    ++active;
    const std::uint64_t pair_lost = pair.sent - pair.received;
    sent += pair.sent;
    received += pair.received;
    lost += pair_lost;
    dups += pair.duplicates;
    reordered += pair.reordered;
    bounced += pair.bounced;
    if (pair_lost || pair.duplicates || pair.reordered || pair.bounced) {
      ++bad_pairs;
      if (options_.per_pair)
        std::printf("pair %zu: sent=%llu lost=%llu dup=%llu reordered=%llu bounced=%llu\n", i,
                    static_cast<unsigned long long>(pair.sent),
                    static_cast<unsigned long long>(pair_lost),
                    static_cast<unsigned long long>(pair.duplicates),
                    static_cast<unsigned long long>(pair.reordered),
                    static_cast<unsigned long long>(pair.bounced));
    }
  }
  const double secs = seconds_between(window_start_ns_, window_end_ns_);
  const double rate = secs > 0 ? static_cast<double>(received_in_window_) / secs : 0;
  const double p50 = percentile_us(latencies_ns_, 0.50);
  const double p90 = percentile_us(latencies_ns_, 0.90);
  const double p99 = percentile_us(latencies_ns_, 0.99);
  const double p999 = percentile_us(latencies_ns_, 0.999);
  const double max = percentile_us(latencies_ns_, 1.0);
  const bool latency = options_.mode == LoadMode::kLatency;
  char shape[128];
  if (latency) {
    const double lag50 = percentile_us(lags_ns_, 0.50);
    const double lag99 = percentile_us(lags_ns_, 0.99);
    std::snprintf(shape, sizeof shape, "rate=%.0f lag_p50_us=%.1f lag_p99_us=%.1f", options_.rate,
                  lag50, lag99);
  } else {
    std::snprintf(shape, sizeof shape, "window=%zu", options_.window);
  }
  std::printf(
      "%s: pairs=%zu %s seconds=%.3f delivered=%llu msg_per_s=%.0f "
      "p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f sent=%llu lost=%llu "
      "dup=%llu reordered=%llu bounced=%llu pairs_with_anomalies=%zu dropped_connections=%zu\n",
      latency ? "latency" : "throughput", active, shape, secs,
      static_cast<unsigned long long>(received_in_window_), rate, p50, p90, p99, p999, max,
      static_cast<unsigned long long>(sent), static_cast<unsigned long long>(lost),
      static_cast<unsigned long long>(dups), static_cast<unsigned long long>(reordered),
      static_cast<unsigned long long>(bounced), bad_pairs, dropped_);
  std::fflush(stdout);
  (void)received;
  const bool clean = lost == 0 && dups == 0 && bounced == 0 && dropped_ == 0 &&
                     active == pairs_.size() && failed_ == 0;
  finish(clean ? 0 : 1);
}

void LoadRunner::finish(int code) {
  if (finished_) return;
  finished_ = true;
  if (options_.mode == LoadMode::kIdle && logins_finished_) {
    std::printf("idle: end bound=%zu dropped=%zu\n", bound_, dropped_);
    std::fflush(stdout);
    if (dropped_) code = 1;
  }
  exit_code_ = code;
  loop_->stop();
}

}  // namespace xd::client
