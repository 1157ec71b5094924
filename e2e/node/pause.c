/* The pod sandbox's process (containerd's sandbox_image): it holds the pod's namespaces and does nothing until the
 * kubelet stops the pod. Built with gcc -static by e2e/node.py, because no registry can be reached for
 * registry.k8s.io/pause. As PID 1 of the sandbox it reaps the zombies of processes that share its PID namespace. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) { (void)sig; _exit(0); }

static void reap(int sig) {
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

int main(void) {
    signal(SIGINT, stop);
    signal(SIGTERM, stop);
    signal(SIGCHLD, reap);
    for (;;) pause();
    return 0;
}
