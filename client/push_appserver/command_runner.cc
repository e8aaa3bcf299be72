#include "client/push_appserver/command_runner.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

extern char** environ;

namespace xd::client {
namespace {

// Writes all of |data| to |fd| (a memory file: short writes only on
// ENOSPC-like failures). Returns false with errno set on failure.
bool write_all(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

CommandRunner::CommandRunner(net::NetLoop& loop, CommandOptions options)
    : loop_(&loop),
      options_(std::move(options)),
      sigchld_(loop, SIGCHLD, [this] { on_sigchld(); }) {
  // Running children keep the loop alive through their deadline timers;
  // the watcher alone must not.
  sigchld_.unref();
}

CommandRunner::~CommandRunner() {
  for (Child& child : children_) {
    ::kill(-child.pid, SIGKILL);
    int status = 0;
    while (::waitpid(child.pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

SubmitResult CommandRunner::submit(std::string input) {
  if (draining_) return SubmitResult::kDraining;
  if (children_.size() < options_.max_running) {
    return spawn(input) ? SubmitResult::kStarted : SubmitResult::kSpawnFailed;
  }
  if (queue_.size() >= options_.max_queued) return SubmitResult::kQueueFull;
  queue_.push_back(std::move(input));
  return SubmitResult::kQueued;
}

bool CommandRunner::spawn(const std::string& input) {
  // The line travels in a memory file, never in argv or the environment.
  const int fd = ::memfd_create("xd-push-notification", MFD_CLOEXEC);
  if (fd < 0) {
    std::fprintf(stderr, "xd-push-appserver: memfd_create: %s\n", std::strerror(errno));
    return false;
  }
  if (!write_all(fd, input) || ::lseek(fd, 0, SEEK_SET) != 0) {
    std::fprintf(stderr, "xd-push-appserver: writing the command input: %s\n",
                 std::strerror(errno));
    ::close(fd);
    return false;
  }
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  // dup2 clears close-on-exec on the copy: the child's stdin is the file.
  posix_spawn_file_actions_adddup2(&actions, fd, STDIN_FILENO);
  sigset_t defaults;
  sigemptyset(&defaults);
  // NetLoop ignores SIGPIPE, and ignored signals survive exec: give the
  // shell the usual dispositions back so `cmd | head` behaves.
  for (int signum : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGQUIT})
    sigaddset(&defaults, signum);
  sigset_t no_mask;
  sigemptyset(&no_mask);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setsigmask(&attr, &no_mask);
  // A group of its own, so a deadline kills what the shell started too.
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  char sh[] = "sh";
  char dash_c[] = "-c";
  std::string command = options_.command;
  char* argv[] = {sh, dash_c, command.data(), nullptr};
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, "/bin/sh", &actions, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(fd);
  if (rc != 0) {
    std::fprintf(stderr, "xd-push-appserver: cannot run /bin/sh: %s\n", std::strerror(rc));
    return false;
  }
  Child& child = children_.emplace_back();
  child.pid = pid;
  child.deadline = std::make_unique<net::Timer>(*loop_, [this, &child] {
    // The group may outlive the shell; SIGKILL reaches all of it.
    child.timed_out = true;
    ::kill(-child.pid, SIGKILL);
  });
  child.deadline->start(options_.timeout_ms);
  return true;
}

void CommandRunner::on_sigchld() {
  // SIGCHLD deliveries coalesce: look at every child each time.
  for (auto it = children_.begin(); it != children_.end();) {
    int status = 0;
    pid_t r;
    do {
      r = ::waitpid(it->pid, &status, WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == 0) {
      ++it;
      continue;
    }
    if (r < 0) {
      std::fprintf(stderr, "xd-push-appserver: command %d vanished: %s\n",
                   static_cast<int>(it->pid), std::strerror(errno));
    } else if (it->timed_out) {
      std::fprintf(stderr, "xd-push-appserver: command %d killed after %llu ms\n",
                   static_cast<int>(it->pid), static_cast<unsigned long long>(options_.timeout_ms));
    } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
      std::fprintf(stderr, "xd-push-appserver: command %d exited with status %d\n",
                   static_cast<int>(it->pid), WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
      std::fprintf(stderr, "xd-push-appserver: command %d killed by signal %d\n",
                   static_cast<int>(it->pid), WTERMSIG(status));
    }
    // Not from inside this child's deadline callback: destroying it is fine.
    it = children_.erase(it);
  }
  start_queued();
  maybe_done();
}

void CommandRunner::start_queued() {
  while (!draining_ && !queue_.empty() && children_.size() < options_.max_running) {
    std::string input = std::move(queue_.front());
    queue_.pop_front();
    spawn(input);  // a failure is logged; the line is dropped
  }
}

void CommandRunner::drain(std::function<void()> done) {
  draining_ = true;
  done_ = std::move(done);
  if (!queue_.empty()) {
    std::fprintf(stderr, "xd-push-appserver: dropping %zu queued notifications\n", queue_.size());
    queue_.clear();
  }
  for (Child& child : children_) ::kill(-child.pid, SIGTERM);
  if (children_.empty()) {
    done_timer_ = std::make_unique<net::Timer>(*loop_, [this] { maybe_done(); });
    done_timer_->start(0);
  }
}

void CommandRunner::maybe_done() {
  if (!draining_ || !children_.empty() || !done_) return;
  std::function<void()> done = std::move(done_);
  done_ = nullptr;
  done();
}

}  // namespace xd::client
