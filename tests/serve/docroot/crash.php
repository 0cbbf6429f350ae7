<?php
// The worker dies mid-request, as on a segfault. It leaves a mark first, so the test can
// count how often PHP ran the request.
file_put_contents($_GET['mark'], "ran\n", FILE_APPEND);
posix_kill(getmypid(), 9); // SIGKILL (the constant needs pcntl)
