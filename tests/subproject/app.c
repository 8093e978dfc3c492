#include <flashmap.h>

int main(void) { return fm_version_string()[0] == 'f' ? 0 : 1; }
