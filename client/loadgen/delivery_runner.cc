#include "client/loadgen/delivery_runner.h"

#include <algorithm>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <utility>

#include "client/loadgen/measure.h"
#include "protocol/xml/serializer.h"

namespace xd::client {
namespace {

constexpr std::string_view kClientNs = "jabber:client";
constexpr std::string_view kStanzasNs = "urn:ietf:params:xml:ns:xmpp-stanzas";
constexpr std::string_view kCatchupNs = "urn:xmppd:catchup:0";
constexpr std::string_view kDelayNs = "urn:xmpp:delay";

bool parse_u64(std::string_view text, std::uint64_t& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}

// Parses the body "sender:seq:timestamp_ns" of our own messages.
bool parse_body(std::string_view body, std::uint64_t& sender, std::uint64_t& seq) {
  const std::size_t first = body.find(':');
  if (first == std::string_view::npos) return false;
  const std::size_t second = body.find(':', first + 1);
  if (second == std::string_view::npos) return false;
  std::uint64_t ts = 0;
  return parse_u64(body.substr(0, first), sender) &&
         parse_u64(body.substr(first + 1, second - first - 1), seq) &&
         parse_u64(body.substr(second + 1), ts);
}

// The defined condition of a stanza error ("resource-constraint"), or
// "error" when there is none.
std::string error_condition(const protocol::Element& stanza) {
  if (const protocol::Element* error = stanza.child("error", kClientNs)) {
    for (const protocol::Node& node : error->children()) {
      if (node.is_element() && node.element->ns() == kStanzasNs && node.element->name() != "text")
        return node.element->name();
    }
  }
  return "error";
}

}  // namespace

DeliveryRunner::DeliveryRunner(net::NetLoop& loop, const LoadOptions& options)
    : loop_(&loop), options_(options) {}

DeliveryRunner::~DeliveryRunner() { shutdown(); }

void DeliveryRunner::shutdown() {
  timer_.reset();
  deadline_.reset();
  sigint_.reset();
  sigterm_.reset();
  closing_ = true;
  // Connection destructors release sockets without calling back.
  sessions_.clear();
}

SessionConfig DeliveryRunner::config_for(std::size_t index) const {
  SessionConfig config = base_session_config(options_, tls_.get());
  // Char buffers sidestep GCC 12's false -Wrestrict on short std::string
  // concatenation (PR 105329), as in LoadRunner.
  char number[32];
  if (index == senders_.size()) {
    // The backlog receiver: the offline account the senders wrote to.
    config.username = options_.offline_prefix + "0";
    config.resource = "backlog";
    return config;
  }
  const std::size_t users = std::max<std::size_t>(options_.users, 1);
  int n = std::snprintf(number, sizeof number, "%zu", index % users);
  config.username = options_.user_prefix;
  config.username.append(number, static_cast<std::size_t>(n));
  n = std::snprintf(number, sizeof number, "d%zu", index);
  config.resource.assign(number, static_cast<std::size_t>(n));
  return config;
}

bool DeliveryRunner::start(std::string& error) {
  const bool backlog = options_.mode == LoadMode::kBacklog;
  if (options_.senders == 0 || options_.sm_window == 0 ||
      (backlog ? options_.backlog == 0 : options_.offline_users == 0)) {
    error = "nothing to do (0 senders, window, targets or messages)";
    return false;
  }
  if (options_.tls || options_.direct_tls) {
    net::TlsClientOptions tls_options;
    if (options_.direct_tls) tls_options.alpn = {"xmpp-client"};
    tls_ = net::TlsContext::client(options_.ca_file, error, tls_options);
    if (!tls_) return false;
  }
  senders_.resize(options_.senders);
  seen_.resize(options_.senders);
  sessions_.reserve(options_.senders + 1);
  const std::size_t targets = backlog ? 1 : options_.offline_users;
  prefixes_.reserve(targets);
  for (std::size_t t = 0; t < targets; ++t) {
    char number[32];
    const int n = std::snprintf(number, sizeof number, "%zu", t);
    std::string jid = options_.offline_prefix;
    jid.append(number, static_cast<std::size_t>(n));
    jid += '@';
    jid += options_.domain;
    std::string prefix = "<message type='chat' to='";
    protocol::append_escaped_attr(prefix, jid);
    prefix += "'><body>";
    prefixes_.push_back(std::move(prefix));
  }
  auto stop = [this] {
    std::fprintf(stderr, "xd-loadgen: interrupted\n");
    finish(1);
  };
  sigint_ = std::make_unique<net::SignalWatcher>(*loop_, SIGINT, stop);
  sigterm_ = std::make_unique<net::SignalWatcher>(*loop_, SIGTERM, stop);
  sigint_->unref();
  sigterm_->unref();
  deadline_ = std::make_unique<net::Timer>(*loop_, [this] {
    std::fprintf(stderr, "xd-loadgen: sender logins timed out: %zu ready, %zu failed of %zu\n",
                 ready_, failed_, senders_.size());
    finish(1);
  });
  deadline_->start(static_cast<std::uint64_t>(options_.login_timeout * 1000));
  pump();
  if (failed_ == senders_.size()) {
    error = "could not start any connection";
    return false;
  }
  return true;
}

void DeliveryRunner::pump() {
  while (!finished_ && in_progress_ < options_.concurrency && next_ < senders_.size()) {
    const std::size_t index = next_++;
    sessions_.push_back(std::make_unique<LoginSession>(*loop_, config_for(index), *this, index));
    senders_[index].session = sessions_.back().get();
    std::string error;
    if (!sessions_.back()->start(error)) {
      if (failed_ < 5) std::fprintf(stderr, "xd-loadgen: connect: %s\n", error.c_str());
      ++failed_;
      continue;
    }
    ++in_progress_;
  }
  if (phase_ == Phase::kLogin && !finished_ && ready_ + failed_ == senders_.size()) start_sending();
}

void DeliveryRunner::on_bound(LoginSession& session) {
  if (is_receiver(session)) {
    // spec/delivery.md §4: initial presence starts the backlog.
    cpu_at_presence_us_ = process_cpu_us();
    presence_ns_ = now_ns();
    session.send("<presence/>");
    return;
  }
  session.enable_sm();
}

void DeliveryRunner::on_sm_enabled(LoginSession& session, bool enabled) {
  if (is_receiver(session)) return;
  Sender& sender = senders_[session.tag()];
  if (sender.settled) return;
  sender.settled = true;
  --in_progress_;
  if (enabled) {
    sender.ready = true;
    ++ready_;
  } else {
    if (failed_ < 5)
      std::fprintf(stderr, "xd-loadgen: %s: <enable/> failed\n", session.jid().c_str());
    ++failed_;
    session.close();
  }
  pump();
}

void DeliveryRunner::on_ended(LoginSession& session, std::string_view reason) {
  if (closing_ || finished_) return;
  if (is_receiver(session)) {
    std::fprintf(stderr, "xd-loadgen: backlog receiver ended: %.*s\n",
                 static_cast<int>(reason.size()), reason.data());
    report_backlog(true);
    return;
  }
  Sender& sender = senders_[session.tag()];
  if (!sender.settled) {
    // A failed login (or a session lost before <enabled/>).
    sender.settled = true;
    --in_progress_;
    ++failed_;
    if (failed_ <= 5)
      std::fprintf(stderr, "xd-loadgen: sender %zu failed: %.*s\n", session.tag(),
                   static_cast<int>(reason.size()), reason.data());
    pump();
    return;
  }
  if (!sender.ready) return;  // <enable/> failed and we closed it
  sender.ready = false;
  --ready_;
  if (phase_ == Phase::kClosing) {
    if (ready_ == 0) start_receiver();
    return;
  }
  ++dropped_;
  if (dropped_ <= 5)
    std::fprintf(stderr, "xd-loadgen: %s dropped: %.*s\n", session.jid().c_str(),
                 static_cast<int>(reason.size()), reason.data());
  if (phase_ == Phase::kLogin) {
    ++failed_;
    pump();
  }
}

void DeliveryRunner::start_sending() {
  deadline_->stop();
  std::printf("%s-logins: senders=%zu ready=%zu failed=%zu\n",
              options_.mode == LoadMode::kStore ? "store" : "backlog", senders_.size(), ready_,
              failed_);
  std::fflush(stdout);
  if (ready_ == 0) {
    std::fprintf(stderr, "xd-loadgen: no sender has stream management\n");
    finish(1);
    return;
  }
  phase_ = Phase::kSending;
  ack_latencies_ns_.reserve(1 << 20);
  measuring_ = true;
  send_start_ns_ = now_ns();
  for (Sender& sender : senders_) top_up(sender);
  if (options_.mode == LoadMode::kStore) {
    std::fprintf(stderr, "xd-loadgen: %zu senders to %zu offline accounts, measuring %.1f s\n",
                 ready_, prefixes_.size(), options_.seconds);
    timer_ = std::make_unique<net::Timer>(*loop_, [this] { end_window(); });
    timer_->start(static_cast<std::uint64_t>(options_.seconds * 1000));
  } else {
    std::fprintf(stderr, "xd-loadgen: %zu senders storing %zu messages for %s0\n", ready_,
                 options_.backlog, options_.offline_prefix.c_str());
    timer_ = std::make_unique<net::Timer>(*loop_, [this] {
      std::fprintf(stderr, "xd-loadgen: backlog store timed out: %llu of %zu acknowledged\n",
                   static_cast<unsigned long long>(total_acked_), options_.backlog);
      finish(1);
    });
    timer_->start(static_cast<std::uint64_t>(options_.backlog_timeout * 1000));
  }
}

void DeliveryRunner::top_up(Sender& sender) {
  if (phase_ != Phase::kSending || !sender.ready) return;
  const bool backlog = options_.mode == LoadMode::kBacklog;
  std::size_t batch = 0;
  while (sender.sent - sender.acked < options_.sm_window &&
         (!backlog || total_sent_ < options_.backlog)) {
    send_one(sender);
    ++batch;
  }
  // "<r/> per window": ask for the count once per batch. xmppd answers at
  // once with what is committed and again after the commit that covers
  // the batch (spec/delivery.md §1.2).
  if (batch > 0) sender.session->request_ack();
}

void DeliveryRunner::send_one(Sender& sender) {
  const std::size_t index = static_cast<std::size_t>(&sender - senders_.data());
  const std::uint64_t seq = sender.sent++;
  const std::size_t target = prefixes_.size() == 1 ? 0 : (index + seq) % prefixes_.size();
  const std::uint64_t now = now_ns();
  char tail[96];
  const int n =
      std::snprintf(tail, sizeof tail, "%zu:%llu:%llu</body></message>", index,
                    static_cast<unsigned long long>(seq), static_cast<unsigned long long>(now));
  const std::string& prefix = prefixes_[target];
  std::string stanza;
  stanza.reserve(prefix.size() + static_cast<std::size_t>(n));
  stanza += prefix;
  stanza.append(tail, static_cast<std::size_t>(n));
  sender.session->send(stanza);
  sender.sent_at_ns.push_back(now);
  ++total_sent_;
}

void DeliveryRunner::on_sm_ack(LoginSession& session, std::uint32_t h) {
  if (is_receiver(session)) return;
  Sender& sender = senders_[session.tag()];
  ++acks_;
  // XEP-0198 §4: h is modulo 2^32; the unsigned difference is the advance.
  std::uint64_t delta = static_cast<std::uint32_t>(h - sender.last_h);
  const std::uint64_t outstanding = sender.sent - sender.acked;
  if (delta > outstanding) {
    ++ack_overruns_;
    delta = outstanding;
  }
  sender.last_h = h;
  if (delta == 0) return;
  const std::uint64_t now = now_ns();
  for (std::uint64_t i = 0; i < delta; ++i) {
    if (measuring_) ack_latencies_ns_.push_back(now - sender.sent_at_ns.front());
    sender.sent_at_ns.pop_front();
  }
  sender.acked += delta;
  total_acked_ += delta;
  if (measuring_) acked_in_window_ += delta;
  if (phase_ == Phase::kSending && options_.mode == LoadMode::kBacklog &&
      total_acked_ >= options_.backlog) {
    send_end_ns_ = now;
    measuring_ = false;
    timer_->stop();
    report_store();
    if (finished_) return;
    // The senders leave before the receiver logs in, so the server does
    // nothing else while it delivers the backlog.
    phase_ = Phase::kClosing;
    for (Sender& s : senders_) {
      if (s.ready) s.session->close();
    }
    return;
  }
  if (phase_ == Phase::kSending) {
    top_up(sender);
  } else if (phase_ == Phase::kDraining) {
    check_drained();
  }
}

void DeliveryRunner::on_message(LoginSession& session, const protocol::Element& message) {
  if (is_receiver(session)) {
    on_receiver_message(message);
    return;
  }
  if (message.attr_or("type") != "error") return;
  // A bounce: the quota or storage was full (spec/delivery.md §1.4). It
  // still counts in h, so it is subtracted from the committed figure.
  Sender& sender = senders_[session.tag()];
  ++sender.bounced;
  if (measuring_) ++bounced_in_window_;
  if (first_bounce_.empty()) {
    first_bounce_ = error_condition(message);
    std::fprintf(stderr, "xd-loadgen: first bounce: %s\n", first_bounce_.c_str());
  }
}

void DeliveryRunner::end_window() {
  measuring_ = false;
  send_end_ns_ = now_ns();
  phase_ = Phase::kDraining;
  grace_start_ms_ = loop_->now_ms();
  // A second timer: the window timer is the one calling us.
  deadline_ = std::make_unique<net::Timer>(*loop_, [this] { check_drained(); });
  deadline_->start_repeating(20, 20);
  check_drained();
}

void DeliveryRunner::check_drained() {
  if (finished_) return;
  const bool grace_over = loop_->now_ms() - grace_start_ms_ >=
                          static_cast<std::uint64_t>(options_.grace_seconds * 1000);
  if (total_acked_ == total_sent_ || grace_over) {
    report_store();
    finish(exit_code_);
  }
}

void DeliveryRunner::report_store() {
  std::uint64_t bounced = 0;
  for (const Sender& sender : senders_) bounced += sender.bounced;
  const double secs = seconds_between(send_start_ns_, send_end_ns_);
  const std::uint64_t committed =
      acked_in_window_ > bounced_in_window_ ? acked_in_window_ - bounced_in_window_ : 0;
  const double rate = secs > 0 ? static_cast<double>(committed) / secs : 0;
  const double p50 = percentile_us(ack_latencies_ns_, 0.50);
  const double p99 = percentile_us(ack_latencies_ns_, 0.99);
  const unsigned long long unacked = total_sent_ - total_acked_;
  if (options_.mode == LoadMode::kStore) {
    std::printf(
        "store: senders=%zu targets=%zu window=%zu seconds=%.3f committed=%llu msg_per_s=%.0f "
        "ack_p50_us=%.0f ack_p99_us=%.0f sent=%llu acked=%llu unacked=%llu bounced=%llu "
        "acks=%llu ack_overruns=%llu dropped_connections=%zu failed_logins=%zu\n",
        ready_, prefixes_.size(), options_.sm_window, secs,
        static_cast<unsigned long long>(committed), rate, p50, p99,
        static_cast<unsigned long long>(total_sent_), static_cast<unsigned long long>(total_acked_),
        unacked, static_cast<unsigned long long>(bounced), static_cast<unsigned long long>(acks_),
        static_cast<unsigned long long>(ack_overruns_), dropped_, failed_);
  } else {
    std::printf(
        "backlog-store: messages=%llu senders=%zu window=%zu seconds=%.3f msg_per_s=%.0f "
        "ack_p50_us=%.0f ack_p99_us=%.0f bounced=%llu acks=%llu ack_overruns=%llu\n",
        static_cast<unsigned long long>(total_acked_), ready_, options_.sm_window, secs, rate, p50,
        p99, static_cast<unsigned long long>(bounced), static_cast<unsigned long long>(acks_),
        static_cast<unsigned long long>(ack_overruns_));
  }
  std::fflush(stdout);
  const bool clean =
      unacked == 0 && bounced == 0 && ack_overruns_ == 0 && dropped_ == 0 && failed_ == 0;
  if (!clean) {
    exit_code_ = 1;
    // A backlog with bounces or gaps would measure something else.
    if (options_.mode == LoadMode::kBacklog) finish(1);
  }
}

void DeliveryRunner::start_receiver() {
  phase_ = Phase::kReceiving;
  const std::size_t index = senders_.size();
  sessions_.push_back(std::make_unique<LoginSession>(*loop_, config_for(index), *this, index));
  std::string error;
  if (!sessions_.back()->start(error)) {
    std::fprintf(stderr, "xd-loadgen: backlog receiver: %s\n", error.c_str());
    finish(1);
    return;
  }
  timer_ = std::make_unique<net::Timer>(*loop_, [this] { report_backlog(true); });
  timer_->start(static_cast<std::uint64_t>(options_.backlog_timeout * 1000));
}

void DeliveryRunner::on_receiver_message(const protocol::Element& message) {
  if (phase_ != Phase::kReceiving) return;
  if (const protocol::Element* marker = message.child("catchup", kCatchupNs)) {
    const std::uint64_t now = now_ns();
    std::uint64_t count = 0;
    const bool counted = parse_u64(marker->attr_or("count"), count);
    const std::string_view state = marker->attr_or("state");
    if (state == "start" && start_marker_ns_ == 0) {
      start_marker_ns_ = now;
      start_count_ = counted ? static_cast<std::int64_t>(count) : -1;
    } else if (state == "done" && done_marker_ns_ == 0) {
      done_marker_ns_ = now;
      cpu_at_done_us_ = process_cpu_us();
      done_count_ = counted ? static_cast<std::int64_t>(count) : -1;
      report_backlog(false);
    }
    return;
  }
  const protocol::Element* body = message.child("body", kClientNs);
  std::uint64_t sender = 0, seq = 0;
  if (message.attr_or("type") == "error" || !body || !parse_body(body->text(), sender, seq) ||
      sender >= senders_.size() || seq >= senders_[sender].sent) {
    ++foreign_;
    return;
  }
  ++received_;
  if (message.child("delay", kDelayNs)) ++delayed_;
  std::vector<bool>& seen = seen_[sender];
  if (seen.size() < senders_[sender].sent) seen.resize(senders_[sender].sent);
  if (seen[seq]) {
    ++duplicates_;
  } else {
    seen[seq] = true;
    ++unique_;
  }
}

void DeliveryRunner::report_backlog(bool timed_out) {
  if (finished_) return;
  auto ms = [this](std::uint64_t at) {
    return at ? static_cast<double>(at - presence_ns_) / 1e6 : -1.0;
  };
  const std::uint64_t missing = total_sent_ > unique_ ? total_sent_ - unique_ : 0;
  const double cpu_ms =
      done_marker_ns_ ? static_cast<double>(cpu_at_done_us_ - cpu_at_presence_us_) / 1e3 : -1.0;
  std::printf(
      "backlog: messages=%llu received=%llu unique=%llu duplicates=%llu missing=%llu "
      "delayed=%llu foreign=%llu start_count=%lld done_count=%lld presence_to_start_ms=%.2f "
      "presence_to_done_ms=%.2f client_cpu_ms=%.2f timed_out=%d\n",
      static_cast<unsigned long long>(total_sent_), static_cast<unsigned long long>(received_),
      static_cast<unsigned long long>(unique_), static_cast<unsigned long long>(duplicates_),
      static_cast<unsigned long long>(missing), static_cast<unsigned long long>(delayed_),
      static_cast<unsigned long long>(foreign_), static_cast<long long>(start_count_),
      static_cast<long long>(done_count_), ms(start_marker_ns_), ms(done_marker_ns_), cpu_ms,
      timed_out ? 1 : 0);
  std::fflush(stdout);
  const auto expected = static_cast<std::int64_t>(total_sent_);
  if (start_count_ > expected)
    std::fprintf(stderr,
                 "xd-loadgen: %s0 had other stanzas queued before the run: use an account "
                 "nobody has written to\n",
                 options_.offline_prefix.c_str());
  const bool clean = !timed_out && missing == 0 && duplicates_ == 0 && start_count_ == expected &&
                     done_count_ == expected && exit_code_ == 0;
  finish(clean ? 0 : 1);
}

void DeliveryRunner::finish(int code) {
  if (finished_) return;
  finished_ = true;
  phase_ = Phase::kDone;
  exit_code_ = code;
  loop_->stop();
}

}  // namespace xd::client
