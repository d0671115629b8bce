/* Class 4, through the execution verifier's C path: case 0 answers, then swaps the next case's
   output file for a symlink to a host file the verifier must never read back. */
#include <stdio.h>
#include <unistd.h>
int main(void) {
    char secret[512];
    if (scanf("%511s", secret) != 1) return 1;
    unlink("out/1");
    symlink(secret, "out/1");
    unlink("out/1.rc");
    symlink(secret, "out/1.rc");
    printf("CONTAINED\n");
    return 0;
}
