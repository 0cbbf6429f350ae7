<?php
// header('Location: ...') alone makes PHP answer 302.
header('Location: /x');
