<?php
// Two cookies: only a multi-value ALB target group can carry both.
setcookie('a', '1');
setcookie('b', '2', ['path' => '/x', 'httponly' => true]);
echo "cookies\n";
