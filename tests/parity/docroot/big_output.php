<?php
// More than 1 MB of output, in pieces, so it crosses every buffer on the way.
for ($i = 0; $i < 20000; $i++) {
    printf("%06d %s\n", $i, str_repeat(chr(97 + $i % 26), 50));
}
