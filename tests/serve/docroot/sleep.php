<?php
// Runs for ?s=N seconds (fractions too), then answers.
usleep((int)(floatval($_GET['s'] ?? 1) * 1e6));
echo "slept\n";
