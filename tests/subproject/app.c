/* SPDX-License-Identifier: MIT OR Apache-2.0 */
#include <flashmap.h>

int main(void) { return fm_version_string()[0] == 'f' ? 0 : 1; }
