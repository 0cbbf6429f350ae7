<?php
// Runs for ?s=N seconds, then names PHP's temporary directory.
usleep((int)(floatval($_GET['s'] ?? 0) * 1e6));
echo sys_get_temp_dir(), "\n";
