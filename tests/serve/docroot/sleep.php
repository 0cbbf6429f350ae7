<?php
// Runs for ?s=N seconds, then answers.
sleep((int)($_GET['s'] ?? 1));
echo "slept\n";
