/*
 * The pause process of a pod sandbox (containerd's sandbox_image), made here because no registry
 * can be reached. It holds the pod's namespaces as PID 1, reaps the processes it adopts, and exits
 * 0 on SIGTERM or SIGINT. Built with `gcc -static` into an image FROM scratch.
 */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int signo) {
  (void)signo;
  _exit(0);
}

static void reap(int signo) {
  (void)signo;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  struct sigaction on_stop, on_child;
  memset(&on_stop, 0, sizeof on_stop);
  memset(&on_child, 0, sizeof on_child);
  on_stop.sa_handler = stop;
  on_child.sa_handler = reap;
  on_child.sa_flags = SA_NOCLDSTOP | SA_RESTART;
  if (sigaction(SIGINT, &on_stop, NULL) || sigaction(SIGTERM, &on_stop, NULL) ||
      sigaction(SIGCHLD, &on_child, NULL)) {
    return 1;
  }
  for (;;) {
    pause();
  }
}
