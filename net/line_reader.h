// LineReader: the lines a person or a script types on a file descriptor
// (the `xmpp chat` standard input), read on the NetLoop without blocking it.
// A terminal is read through uv_tty_t, a pipe or socket through uv_pipe_t;
// a regular file (input redirected from a file) is read at start and its
// lines are delivered over the next loop iterations. Lines are handed over
// without their "\n" (or "\r\n"); a line longer than the limit is cut into
// pieces of the limit. It never closes the descriptor it was given, and its
// handle is freed in its close callback.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "net/net_error.h"
#include "net/net_loop.h"

namespace xd::net {

class LineReader {
 public:
  // |on_line| gets each line; |on_end| runs once at end of input or on a
  // read error (|status| then says which). Either may destroy the reader.
  LineReader(NetLoop& loop, std::function<void(std::string_view line)> on_line,
             std::function<void(NetStatus status)> on_end, std::size_t max_line = 64 * 1024);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // A regular file is read whole at start; larger input is refused.
  static constexpr std::size_t kMaxFileInput = std::size_t{64} << 20;

  // Starts reading |fd|. False with |status| set when it cannot be read.
  bool start(int fd, NetStatus& status);

 private:
  struct Handle;
  void on_data(std::string_view data);
  void on_eof(NetStatus status);
  void drain_file();

  NetLoop* loop_;
  std::function<void(std::string_view)> on_line_;
  std::function<void(NetStatus)> on_end_;
  std::size_t max_line_;
  std::string partial_;
  std::string file_data_;  // a regular file's contents, delivered piecewise
  std::size_t file_pos_ = 0;
  Handle* handle_ = nullptr;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  bool ended_ = false;
};

}  // namespace xd::net
