#include "platform/signals.h"

#include <cassert>

namespace porch {
namespace {

volatile sig_atomic_t g_interrupt_signal = 0;
volatile sig_atomic_t g_interrupt_count = 0;

void OnInterrupt(int sig) {
  g_interrupt_signal = sig;
  g_interrupt_count = g_interrupt_count + 1;
}
void OnChild(int) {}  // exists only so SIGCHLD interrupts ppoll

}  // namespace

SignalGuard::SignalGuard() {
  struct sigaction act = {};
  act.sa_handler = OnInterrupt;
  sigemptyset(&act.sa_mask);
  sigaction(SIGINT, &act, &old_int_);
  sigaction(SIGTERM, &act, &old_term_);
  sigaction(SIGHUP, &act, &old_hup_);
  act.sa_handler = OnChild;
  act.sa_flags = SA_NOCLDSTOP;
  sigaction(SIGCHLD, &act, &old_chld_);
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGHUP);
  sigaddset(&block, SIGCHLD);
  sigprocmask(SIG_BLOCK, &block, &old_mask_);
}

SignalGuard::~SignalGuard() {
  sigaction(SIGINT, &old_int_, nullptr);
  sigaction(SIGTERM, &old_term_, nullptr);
  sigaction(SIGHUP, &old_hup_, nullptr);
  sigaction(SIGCHLD, &old_chld_, nullptr);
  sigprocmask(SIG_SETMASK, &old_mask_, nullptr);
}

bool SignalGuard::interrupted() { return g_interrupt_signal != 0; }
int SignalGuard::interrupt_signal() { return g_interrupt_signal; }
int SignalGuard::interrupt_count() { return g_interrupt_count; }

}  // namespace porch
