<?php
// "first", flushed to the client, then ?s=N seconds (fractions too), then "last".
header('Content-Type: text/plain');
echo "first\n";
while (ob_get_level()) { ob_end_flush(); }
flush();
usleep((int)(floatval($_GET['s'] ?? 1) * 1e6));
echo "last\n";
