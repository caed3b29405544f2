/*
 * The pod sandbox's first process, for the real node of the local cluster
 * (hack/node.sh builds it with `gcc -static` into a one-layer image, since no
 * registry is reachable to pull one). It holds the pod's namespaces open,
 * reaps the zombies of processes that share its PID namespace, and exits
 * cleanly on SIGINT or SIGTERM.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) {
  (void)sig;
  _exit(0);
}

static void reap(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  struct sigaction term = {.sa_handler = stop};
  struct sigaction child = {.sa_handler = reap, .sa_flags = SA_NOCLDSTOP};
  if (getpid() != 1) {
    /* Harmless, but the sandbox is the only place this belongs. */
    (void)write(2, "pause: not running as PID 1\n", 28);
  }
  if (sigaction(SIGINT, &term, NULL) < 0 || sigaction(SIGTERM, &term, NULL) < 0 ||
      sigaction(SIGCHLD, &child, NULL) < 0) {
    return 1;
  }
  for (;;) {
    pause();
  }
}
