// CommandRunner: runs the push app server's --command once per accepted
// notification, with the notification's JSON line on the command's stdin.
// The command line is fixed at startup and data never becomes part of it:
// each run is `/bin/sh -c COMMAND` with stdin an anonymous memory file that
// holds the line (so the write can neither block nor be cut short), in its
// own process group, with SIGPIPE and the other signals back at their
// defaults. Resource limits are explicit: at most |max_running| children,
// at most |max_queued| lines waiting, and a deadline after which the
// child's whole process group is killed. Children are reaped from SIGCHLD
// delivered on the loop (net::SignalWatcher) and timed with net::Timer, so
// the runner owns no libuv handle directly and never blocks the loop,
// except in its destructor, which kills and reaps what is left. How a
// command ended is logged to stderr; it is never reported to the XMPP peer,
// which was answered when the line was accepted.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <string>

#include "net/net_loop.h"
#include "net/signal_watcher.h"
#include "net/timer.h"

namespace xd::client {

struct CommandOptions {
  std::string command;  // given to /bin/sh -c, never altered
  std::uint64_t timeout_ms = 30'000;
  std::size_t max_running = 4;
  std::size_t max_queued = 256;
};

enum class SubmitResult {
  kStarted,      // a child runs with the line on its stdin
  kQueued,       // it waits for a running child to finish
  kQueueFull,    // max_queued lines wait already; nothing was kept
  kSpawnFailed,  // the child could not be started; logged, nothing was kept
  kDraining,     // drain() was called; nothing was kept
};

class CommandRunner {
 public:
  // |loop| must outlive the runner. Installs the SIGCHLD watcher.
  CommandRunner(net::NetLoop& loop, CommandOptions options);
  // Kills (SIGKILL) the process group of every running child and waits for
  // each, so no zombie outlives the runner. Blocks only that long.
  ~CommandRunner();
  CommandRunner(const CommandRunner&) = delete;
  CommandRunner& operator=(const CommandRunner&) = delete;

  // Runs the command with |input| on stdin now, or queues it. Never calls
  // back.
  SubmitResult submit(std::string input);
  // Stops taking input, drops what is queued, sends SIGTERM to the running
  // process groups (the deadline still applies), and calls |done| from the
  // loop once no child is left: from a later loop callback, never from
  // inside drain().
  void drain(std::function<void()> done);

  std::size_t running() const { return children_.size(); }
  std::size_t queued() const { return queue_.size(); }

 private:
  struct Child {
    pid_t pid = -1;
    std::unique_ptr<net::Timer> deadline;
    bool timed_out = false;
  };

  // Starts one child for |input|; false (logged) when it could not.
  bool spawn(const std::string& input);
  void on_sigchld();
  void start_queued();
  void maybe_done();

  net::NetLoop* loop_;
  CommandOptions options_;
  net::SignalWatcher sigchld_;
  std::list<Child> children_;  // stable addresses for the deadline callbacks
  std::deque<std::string> queue_;
  std::function<void()> done_;
  std::unique_ptr<net::Timer> done_timer_;  // defers |done_| out of drain()
  bool draining_ = false;
};

}  // namespace xd::client
