"""Every word the app shows, in English and Korean. Emotion names come from insideout.emotions."""

from __future__ import annotations

from ...emotions import EMOTIONS, emotion

LANGS = ("en", "ko")
LANG_CHOICES = [("English", "en"), ("한국어", "ko")]

TEXTS: dict[str, dict[str, str]] = {
    "title": {
        "en": "# InsideOut\nAn audio CAPTCHA that asks which emotion a voice expresses, and a "
              "crowd-labeling platform for emotional speech.",
        "ko": "# InsideOut\n목소리에 담긴 감정을 맞히는 오디오 CAPTCHA이자, 감정 음성을 함께 "
              "라벨링하는 크라우드 플랫폼입니다.",
    },
    "language": {"en": "Language", "ko": "언어"},
    "login_intro": {
        "en": "### Log in\nDemo accounts: `alice`, `bob`, `carol` (password `{demo}`). "
              "Logging in asks you to pass the captcha in the form, the same widget any website can embed: "
              "start it, listen and pick the emotion of each clip.\n\n"
              "Policy: pass {need} of at most {rounds} rounds. Chance that random guessing passes: "
              "{chance}.",
        "ko": "### 로그인\n데모 계정: `alice`, `bob`, `carol` (비밀번호 `{demo}`). "
              "로그인하려면 양식 안의 CAPTCHA를 통과해야 합니다. 어느 웹사이트든 넣을 수 있는 같은 위젯입니다: "
              "시작하고, 각 음성을 듣고 감정을 고르세요.\n\n"
              "정책: 최대 {rounds}라운드 중 {need}라운드 통과. 무작위로 골라 통과할 확률: {chance}.",
    },
    "username": {"en": "User name", "ko": "사용자 이름"},
    "password": {"en": "Password", "ko": "비밀번호"},
    "login": {"en": "Log in", "ko": "로그인"},
    "captcha_needed": {
        "en": "Pass the captcha first: start it, listen and pick the emotions, then log in.",
        "ko": "먼저 CAPTCHA를 통과하세요: 시작하고, 듣고 감정을 고른 뒤 로그인하세요.",
    },
    "captcha_refused": {
        "en": "The captcha pass did not verify. Pass the captcha again.",
        "ko": "CAPTCHA 통과 확인에 실패했습니다. CAPTCHA를 다시 통과하세요.",
    },
    "bad_credentials": {
        "en": "Captcha passed, but the user name or password is wrong.",
        "ko": "CAPTCHA는 통과했지만 사용자 이름 또는 비밀번호가 틀렸습니다.",
    },
    "expired": {
        "en": "This captcha pass has expired or was already used. Pass the captcha again.",
        "ko": "이 CAPTCHA 통과는 만료되었거나 이미 사용되었습니다. CAPTCHA를 다시 통과하세요.",
    },
    "rate_limited": {"en": "Too many attempts. Wait a minute.", "ko": "시도가 너무 많습니다. 잠시 기다리세요."},
    "signed_in": {
        "en": "### Signed in as {name} ({role})\nYou passed the captcha.",
        "ko": "### {name}(으)로 로그인했습니다 ({role})\nCAPTCHA를 통과했습니다.",
    },
    "role_volunteer": {"en": "volunteer", "ko": "자원봉사자"},
    "role_admin": {"en": "administrator", "ko": "관리자"},
    "logout": {"en": "Log out", "ko": "로그아웃"},
    "logged_out": {"en": "You are logged out.", "ko": "로그아웃했습니다."},
    "sign_in_first": {"en": "Sign in first.", "ko": "먼저 로그인하세요."},
    "admin_only": {"en": "Refused: this needs the administrator role.", "ko": "거부됨: 관리자 권한이 필요합니다."},
    # labeling
    "labeling_tab": {"en": "Label clips", "ko": "음성 라벨링"},
    "labeling_intro": {
        "en": "Help the crowd label new clips: listen and pick the emotion you hear. "
              "Each person's vote counts once per clip.",
        "ko": "새 음성의 라벨링을 도와주세요: 듣고 들리는 감정을 고르세요. 한 사람의 표는 음성마다 한 번만 "
              "집계됩니다.",
    },
    "label_clip": {"en": "Clip to label", "ko": "라벨을 붙일 음성"},
    "label_choice": {"en": "Which emotion does the clip to label express?",
                     "ko": "라벨을 붙일 음성은 어떤 감정을 표현하나요?"},
    "label_keys": {"en": "Keyboard: keys 1 to 8 pick an emotion, in the order listed.",
                   "ko": "키보드: 숫자 키 1~8로 목록 순서대로 감정을 고릅니다."},
    "send_label": {"en": "Send my label", "ko": "라벨 보내기"},
    "skip": {"en": "Skip", "ko": "건너뛰기"},
    "label_counted": {"en": "Thank you: your vote counts.", "ko": "감사합니다: 표가 집계되었습니다."},
    "label_repeat": {
        "en": "You already voted on this clip; this vote does not count again.",
        "ko": "이미 이 음성에 투표했습니다. 이번 표는 다시 집계되지 않습니다.",
    },
    "label_pick": {"en": "Pick an emotion first.", "ko": "먼저 감정을 고르세요."},
    "label_none": {
        "en": "No clip needs your label right now. Thank you!",
        "ko": "지금은 라벨이 필요한 음성이 없습니다. 감사합니다!",
    },
    "label_votes": {"en": "Your labels in this visit: {n}", "ko": "이번 방문에서 보낸 라벨: {n}"},
    # admin
    "admin_tab": {"en": "Admin", "ko": "관리"},
    "refresh": {"en": "Refresh", "ko": "새로 고침"},
    "section_dashboard": {"en": "Dashboard", "ko": "대시보드"},
    "section_models": {"en": "Generate and train", "ko": "생성과 학습"},
    "section_bots": {"en": "Bot lab", "ko": "봇 실험실"},
    "section_sites": {"en": "Sites", "ko": "사이트"},
    "pools": {"en": "Clip pools", "ko": "음성 풀"},
    "policy": {
        "en": "**Policy:** pass {need} of at most {rounds} rounds, {choices} choices per clip. "
              "Chance that random guessing passes: **{chance}**.",
        "ko": "**정책:** 최대 {rounds}라운드 중 {need}라운드 통과, 음성마다 {choices}개 선택지. "
              "무작위로 골라 통과할 확률: **{chance}**.",
    },
    "tallies": {"en": "Per-clip tallies (counted votes)", "ko": "음성별 집계 (집계된 표)"},
    "filter_pool": {"en": "Pool", "ko": "풀"},
    "filter_state": {"en": "State", "ko": "상태"},
    "sort": {"en": "Sort by", "ko": "정렬"},
    "all": {"en": "all", "ko": "전체"},
    "clip_to_play": {"en": "Clip id to play", "ko": "재생할 음성 id"},
    "play": {"en": "Play", "ko": "재생"},
    "admin_clip": {"en": "Clip audio (admin)", "ko": "음성 오디오 (관리)"},
    "queue": {"en": "Consensus queue (closest to a decision first)", "ko": "합의 대기열 (결정에 가까운 순)"},
    # the dashboard's summary
    "summary_title": {"en": "### At a glance", "ko": "### 한눈에 보기"},
    "sum_pools": {"en": "Clip pools", "ko": "음성 풀"},
    "sum_votes": {"en": "Votes", "ko": "표"},
    "sum_near": {"en": "Near consensus", "ko": "합의 임박"},
    "sum_policy": {"en": "Captcha policy", "ko": "CAPTCHA 정책"},
    "sum_model": {"en": "Generating model", "ko": "생성 모델"},
    "sum_jobs": {"en": "Running jobs", "ko": "실행 중인 작업"},
    "sum_votes_value": {"en": "{today} today, {total} in total ({counted} counted)",
                        "ko": "오늘 {today}, 전체 {total} (집계 {counted})"},
    "sum_near_value": {"en": "{n} clips one agreeing vote away", "ko": "같은 표 하나면 합의되는 음성 {n}개"},
    "sum_policy_value": {"en": "pass {need} of {rounds} rounds; chance {chance}",
                         "ko": "{rounds}라운드 중 {need}라운드 통과; 무작위 통과 {chance}"},
    "sum_model_default": {"en": "the shipped default", "ko": "기본 제공 모델"},
    "sum_model_version": {"en": "version {id} ({version})", "ko": "버전 {id} ({version})"},
    "sum_jobs_none": {"en": "none", "ko": "없음"},
    "job_kind_generate": {"en": "generation", "ko": "생성"},
    "job_kind_train": {"en": "training", "ko": "학습"},
    "job_kind_bot_evaluation": {"en": "bot evaluation", "ko": "봇 평가"},
    "pool_play": {"en": "play", "ko": "출제"},
    "pool_unverified": {"en": "unverified", "ko": "미검증"},
    "pool_learning": {"en": "learning", "ko": "학습"},
    "pool_retired": {"en": "retired", "ko": "폐기"},
    "state_open": {"en": "open", "ko": "진행 중"},
    "state_consensus": {"en": "consensus", "ko": "합의"},
    "state_ambiguous": {"en": "ambiguous", "ko": "모호"},
    # tables
    "col_clip": {"en": "clip", "ko": "음성"},
    "tallies_table": {"en": "Tallies", "ko": "집계"},
    "table_empty": {"en": "No rows.", "ko": "행이 없습니다."},
    "queue_table": {"en": "Queue", "ko": "대기열"},
    "rows_shown": {"en": "(the first {shown} of {total}; the CSV export has every row)",
                   "ko": "({total}개 중 처음 {shown}개; CSV 내보내기에는 모든 행이 있습니다)"},
    "col_pool": {"en": "pool", "ko": "풀"},
    "col_tally_state": {"en": "state", "ko": "상태"},
    "col_label": {"en": "label", "ko": "라벨"},
    "col_intended": {"en": "intended", "ko": "의도한 감정"},
    "col_counted_votes": {"en": "counted votes", "ko": "집계된 표"},
    "col_top": {"en": "top emotion", "ko": "최다 감정"},
    "col_top_share": {"en": "top share", "ko": "최다 비율"},
    "col_votes_needed": {"en": "votes to consensus", "ko": "합의까지 필요한 표"},
    "never": {"en": "cannot reach it", "ko": "도달 불가"},
    # agreement
    "agreement_title": {"en": "### Agreement", "ko": "### 일치도"},
    "agreement_counted": {"en": "{votes} counted votes on {clips} clips.",
                          "ko": "음성 {clips}개에 집계된 표 {votes}개."},
    "agreement_kappa": {"en": "**Fleiss' kappa: {kappa}** ({kclips} clips, each with its first {kraters} "
                              "counted votes).",
                        "ko": "**Fleiss 카파: {kappa}** (음성 {kclips}개, 각 음성의 처음 집계된 표 {kraters}개)."},
    "agreement_alpha": {"en": "**Krippendorff's alpha (nominal): {alpha}** ({aclips} clips, {avotes} votes).",
                        "ko": "**Krippendorff 알파 (명목): {alpha}** (음성 {aclips}개, 표 {avotes}개)."},
    "agreement_kappa_missing": {"en": "**Fleiss' kappa: not computed.** {reason}",
                                "ko": "**Fleiss 카파: 계산하지 않음.** {reason}"},
    "agreement_alpha_missing": {"en": "**Krippendorff's alpha: not computed.** {reason}",
                                "ko": "**Krippendorff 알파: 계산하지 않음.** {reason}"},
    "reason_no_votes": {"en": "No counted vote yet.", "ko": "아직 집계된 표가 없습니다."},
    "reason_single_votes": {
        "en": "No clip has two counted votes yet (agreement needs at least two votes on a clip).",
        "ko": "아직 집계된 표가 두 개인 음성이 없습니다 (일치도는 한 음성에 표가 둘 이상 필요합니다).",
    },
    "reason_no_variation": {
        "en": "Every counted vote names the same emotion, so agreement expected by chance is 1 and the "
              "statistic is 0/0.",
        "ko": "집계된 표가 모두 같은 감정이라 우연에 의한 기대 일치도가 1이고, 통계량은 0/0입니다.",
    },
    "reason_one_voter": {"en": "All these votes come from one voter: there is no one to compare them with.",
                         "ko": "표가 모두 한 투표자의 것이라 비교할 대상이 없습니다."},
    "ds_summary": {
        "en": "**Dawid-Skene** (crowd-kit) over {votes} counted votes on {clips} clips by {voters} voters: it "
              "names the majority's emotion on **{agree}** clips, decides **{ties}** majority ties, and "
              "overrules a clear majority on **{overruled}**. Each voter's quality is the estimated chance that "
              "they name a clip's emotion right.",
        "ko": "**Dawid-Skene** (crowd-kit): 투표자 {voters}명이 음성 {clips}개에 준 집계된 표 {votes}개. "
              "다수결과 같은 감정: **{agree}**개, 다수결 동률 결정: **{ties}**개, 뚜렷한 다수결을 뒤집음: "
              "**{overruled}**개. 투표자 품질은 그 투표자가 감정을 맞힐 것으로 추정되는 확률입니다.",
    },
    "ds_pending": {"en": "_Estimated before the newest {n} counted votes; a new estimate is being made and shows at "
                         "the next refresh._",
                   "ko": "_최근 집계된 표 {n}개 이전의 추정입니다. "
                         "새 추정을 계산 중이며 다음 새로 고침에 표시됩니다._"},
    "ds_missing": {"en": "**Dawid-Skene: not computed.** {reason}",
                   "ko": "**Dawid-Skene: 계산하지 않음.** {reason}"},
    "ds_voters": {"en": "Voters (Dawid-Skene)", "ko": "투표자 (Dawid-Skene)"},
    "ds_overruled": {"en": "Clips where Dawid-Skene and majority vote disagree",
                     "ko": "Dawid-Skene과 다수결이 다른 음성"},
    "col_voter": {"en": "voter (pseudonym)", "ko": "투표자 (가명)"},
    "col_votes": {"en": "votes", "ko": "표"},
    "col_quality": {"en": "quality (Dawid-Skene)", "ko": "품질 (Dawid-Skene)"},
    "col_majority_agreement": {"en": "agrees with majority", "ko": "다수결 일치"},
    "col_majority": {"en": "majority", "ko": "다수결"},
    "col_majority_share": {"en": "majority share", "ko": "다수 비율"},
    "col_ds_label": {"en": "Dawid-Skene", "ko": "Dawid-Skene"},
    "col_ds_probability": {"en": "posterior", "ko": "사후 확률"},
    # charts
    "no_data": {"en": "no data", "ko": "자료 없음"},
    "axis_pass_rate": {"en": "round pass rate (%)", "ko": "라운드 통과율 (%)"},
    "axis_control_emotion": {"en": "emotion of the control clip", "ko": "기준 음성의 감정"},
    "axis_time": {"en": "time (UTC, {period})", "ko": "시간 (UTC, {period})"},
    "axis_crowd_label": {"en": "crowd label", "ko": "군중 라벨"},
    "axis_intended": {"en": "intended emotion", "ko": "의도한 감정"},
    "ci_low": {"en": "95 % interval, low (%)", "ko": "95 % 구간 하한 (%)"},
    "ci_high": {"en": "95 % interval, high (%)", "ko": "95 % 구간 상한 (%)"},
    "chart_n_rounds": {"en": "n = {n} answered rounds; bars: 95 % Wilson interval; label: passed/n",
                       "ko": "n = 응답한 라운드 {n}개; 막대 선: 95 % Wilson 구간; 표시: 통과/n"},
    "chart_n_rounds_per": {"en": "n = {n} answered rounds, {period}; vertical lines: 95 % Wilson interval",
                           "ko": "n = 응답한 라운드 {n}개, {period}; 세로선: 95 % Wilson 구간"},
    "chart_rates_description": {"en": "{title}. Passed of answered: {rows}.", "ko": "{title}. 통과/응답: {rows}."},
    "chart_over_time_description": {"en": "{title}: {n} answered rounds in {periods} periods; series: {series}.",
                                    "ko": "{title}: 응답한 라운드 {n}개, 기간 {periods}개; 계열: {series}."},
    "bin_60": {"en": "per minute", "ko": "분 단위"},
    "bin_300": {"en": "per 5 minutes", "ko": "5분 단위"},
    "bin_900": {"en": "per 15 minutes", "ko": "15분 단위"},
    "bin_3600": {"en": "per hour", "ko": "시간 단위"},
    "bin_21600": {"en": "per 6 hours", "ko": "6시간 단위"},
    "bin_86400": {"en": "per day", "ko": "일 단위"},
    "bin_604800": {"en": "per week", "ko": "주 단위"},
    "bin_seconds": {"en": "per {s} s", "ko": "{s}초 단위"},
    "row_with_n": {"en": "{name} (n={n})", "ko": "{name} (n={n})"},
    "basis_votes": {"en": "every counted vote", "ko": "집계된 모든 표"},
    "basis_consensus": {"en": "consensus labels", "ko": "합의 라벨"},
    "confusion_view": {"en": "Show", "ko": "보기"},
    "confusion_counts": {"en": "counts", "ko": "개수"},
    "confusion_shares": {"en": "share of each intended emotion (row %)", "ko": "의도한 감정별 비율 (행 %)"},
    "confusion_subtitle": {"en": "n = {n} ({basis}); {view}", "ko": "n = {n} ({basis}); {view}"},
    "confusion_description": {"en": "{title}: a heat map of {n} labels.", "ko": "{title}: 라벨 {n}개의 열지도."},
    "confusion": {"en": "Intended emotion vs crowd label", "ko": "의도한 감정 대 군중 라벨"},
    "pass_overall": {
        "en": "**Pass rates.** Challenges: {cpass} passed, {cfail} failed, {copen} open or abandoned; "
              "pass rate **{crate}**. Rounds: {rpass} of {rans} passed (**{rrate}**).",
        "ko": "**통과율.** 챌린지: 통과 {cpass}, 실패 {cfail}, 진행 중 또는 중단 {copen}; 통과율 **{crate}**. "
              "라운드: {rans}개 중 {rpass}개 통과 (**{rrate}**).",
    },
    "pass_by_emotion": {"en": "Round pass rate by emotion of the control clip",
                        "ko": "기준 음성의 감정별 라운드 통과율"},
    "pass_over_time": {"en": "Round pass rate over time, per round", "ko": "시간에 따른 라운드별 통과율"},
    "pass_by_round": {"en": "Pass rate per round", "ko": "라운드별 통과율"},
    "export": {"en": "Export votes and tallies (CSV)", "ko": "표와 집계 내보내기 (CSV)"},
    "csv_files": {"en": "CSV files", "ko": "CSV 파일"},
    "col_round": {"en": "round", "ko": "라운드"},
    "all_rounds": {"en": "all rounds", "ko": "전체 라운드"},
    "none_yet": {"en": "n/a", "ko": "없음"},
    "generate_title": {"en": "### Generate clips for the crowd\nThe acoustic model speaks shipped sentences in the "
                             "chosen emotions; the clips go to the unverified pool with their intended emotion.",
                       "ko": "### 크라우드용 음성 생성\n음향 모델이 선택한 감정으로 문장을 읽고, "
                             "생성된 음성은 의도한 감정과 함께 미검증 풀로 갑니다."},
    "generate_count": {"en": "Clips", "ko": "음성 수"},
    "generate_emotions": {"en": "Emotions", "ko": "감정"},
    "generate_voice": {"en": "Voice", "ko": "목소리"},
    "voice_rotate": {"en": "The model's voices in turn (without speakers: the voices' pitch registers in turn)",
                     "ko": "모델의 목소리를 차례로 (화자 입력이 없으면 목소리들의 음높이를 차례로)"},
    "voice_blend": {"en": "Blend (no speaker input)", "ko": "혼합 (화자 입력 없음)"},
    "generate": {"en": "Generate", "ko": "생성"},
    "cancel_job": {"en": "Cancel", "ko": "취소"},
    "job_none": {"en": "No generation yet.", "ko": "아직 생성 작업이 없습니다."},
    "job_status": {"en": "Generation job {id}: **{state}**. {detail}", "ko": "생성 작업 {id}: **{state}**. {detail}"},
    # sites
    "sites_title": {"en": "### Sites\nWebsites that embed the captcha. Each has a public site key for its pages "
                          "and a secret for its server's siteverify calls; challenges are served only to the "
                          "origins listed.",
                    "ko": "### 사이트\nCAPTCHA를 넣은 웹사이트입니다. 사이트마다 페이지용 공개 사이트 키와 서버의 "
                          "siteverify 호출용 비밀 키가 있으며, 적어 둔 출처(origin)에만 챌린지를 제공합니다."},
    "col_site_name": {"en": "name", "ko": "이름"},
    "col_sitekey": {"en": "site key", "ko": "사이트 키"},
    "col_origins": {"en": "origins", "ko": "출처"},
    "col_alternative": {"en": "no-audio route", "ko": "오디오 없는 경로"},
    "col_site_policy": {"en": "pass policy", "ko": "통과 정책"},
    "site_app_policy": {"en": "the app's ({policy})", "ko": "앱 기본 ({policy})"},
    "site_policy": {"en": "Pass policy K/N: pass K of at most N rounds (empty: the app's)",
                    "ko": "통과 정책 K/N: 최대 N라운드 중 K라운드 통과 (비우면 앱 기본값)"},
    "col_created": {"en": "created (UTC)", "ko": "생성 (UTC)"},
    "col_rotated": {"en": "secret rotated (UTC)", "ko": "비밀 키 교체 (UTC)"},
    "site_on": {"en": "on", "ko": "켜짐"},
    "site_off": {"en": "off", "ko": "꺼짐"},
    "site_builtin_origins": {"en": "this app's own pages", "ko": "이 앱의 페이지"},
    "site_add_title": {"en": "#### Add a site", "ko": "#### 사이트 추가"},
    "site_name": {"en": "Site name", "ko": "사이트 이름"},
    "site_origins": {"en": "Origins, one per line (for example https://shop.example)",
                     "ko": "출처, 한 줄에 하나 (예: https://shop.example)"},
    "site_alternative": {"en": "Offer the route for people who cannot hear (proof of work)",
                         "ko": "들을 수 없는 사람을 위한 경로 제공 (작업 증명)"},
    "site_add": {"en": "Add site", "ko": "사이트 추가"},
    "site_manage_title": {"en": "#### Rotate a secret or remove a site", "ko": "#### 비밀 키 교체 또는 사이트 삭제"},
    "site_choice": {"en": "Site", "ko": "사이트"},
    "site_rotate": {"en": "Rotate secret", "ko": "비밀 키 교체"},
    "site_remove": {"en": "Remove site", "ko": "사이트 삭제"},
    "site_remove_confirm": {
        "en": "**Remove {name}** (`{sitekey}`)? Its pages stop getting challenges and its secret stops working "
              "at once. This cannot be undone.",
        "ko": "**{name}**(`{sitekey}`)을(를) 삭제할까요? 이 사이트의 페이지는 더 이상 챌린지를 받지 못하고 "
              "비밀 키도 즉시 작동을 멈춥니다. 되돌릴 수 없습니다.",
    },
    "site_remove_yes": {"en": "Yes, remove it", "ko": "예, 삭제합니다"},
    "site_remove_no": {"en": "Cancel", "ko": "취소"},
    "site_secret": {"en": "Secret (shown once: copy it now)", "ko": "비밀 키 (한 번만 표시: 지금 복사하세요)"},
    "site_added": {
        "en": "Added **{name}**, site key `{sitekey}`. **Its secret is shown once, below: copy it now.** Only a "
              "hash of it is kept; if it is lost, rotate the secret.",
        "ko": "**{name}**을(를) 추가했습니다. 사이트 키 `{sitekey}`. **비밀 키는 아래에 한 번만 표시됩니다: 지금 "
              "복사하세요.** 해시만 보관하므로, 잃어버리면 비밀 키를 교체하세요.",
    },
    "site_rotated": {
        "en": "New secret for **{name}**: the old one stopped working. **It is shown once, below: copy it now.**",
        "ko": "**{name}**의 새 비밀 키입니다. 이전 비밀 키는 작동을 멈췄습니다. **아래에 한 번만 표시됩니다: "
              "지금 복사하세요.**",
    },
    "site_removed": {"en": "Removed **{name}**.", "ko": "**{name}**을(를) 삭제했습니다."},
    "site_remove_cancelled": {"en": "Nothing was removed.", "ko": "아무것도 삭제하지 않았습니다."},
    "site_refused": {"en": "**Refused:** {reason}", "ko": "**거부됨:** {reason}"},
    "site_pick": {"en": "Pick a site first.", "ko": "먼저 사이트를 고르세요."},
    "site_unknown": {"en": "There is no site {site}.", "ko": "사이트 {site}이(가) 없습니다."},
    # training
    "train_title": {"en": "### Training\nFine-tunes the acoustic model on the crowd-verified clips of the learning "
                          "pool. Every run is kept as a version; only an evaluated run consumes its clips.",
                    "ko": "### 학습\n학습 풀에서 크라우드가 검증한 음성으로 음향 모델을 미세 조정합니다. "
                          "모든 실행은 버전으로 남고, 평가까지 마친 실행만 음성을 사용 처리합니다."},
    "train_start": {"en": "Start training", "ko": "학습 시작"},
    "train_pool": {"en": "Learning pool: **{n}** clips. A training starts by itself at **{threshold}** clips.",
                   "ko": "학습 풀: 음성 **{n}**개. **{threshold}**개가 되면 학습이 자동으로 시작됩니다."},
    "train_none": {"en": "No training yet.", "ko": "아직 학습 작업이 없습니다."},
    "train_status": {"en": "Training job {id}: **{state}**. {detail}", "ko": "학습 작업 {id}: **{state}**. {detail}"},
    "train_queued": {"en": "Waiting for the job before it to end.", "ko": "앞선 작업이 끝나기를 기다리는 중입니다."},
    "train_done": {"en": "Model {model}, version `{version}`: final loss {loss}; learning clips consumed: {consumed}. "
                         "{outcome}",
                   "ko": "모델 {model}, 버전 `{version}`: 최종 손실 {loss}; 사용한 학습 음성: {consumed}개. {outcome}"},
    "train_cancelled": {"en": "Cancelled at step {done} / {total}.", "ko": "{done} / {total} 단계에서 취소되었습니다."},
    "train_refused": {"en": "**Training not started:** {reason}", "ko": "**학습을 시작하지 않았습니다:** {reason}"},
    "train_loss": {"en": "Training loss per step (latest run)", "ko": "단계별 학습 손실 (최근 실행)"},
    "models_title": {"en": "Model versions", "ko": "모델 버전"},
    "model_choice": {"en": "Version that generates clips", "ko": "음성을 생성할 버전"},
    "model_default": {"en": "the default model", "ko": "기본 모델"},
    "use_model": {"en": "Use this version", "ko": "이 버전 사용"},
    "model_in_use": {"en": "Generating with **model {id}** (version `{version}`).",
                     "ko": "**모델 {id}**(버전 `{version}`)로 생성합니다."},
    "model_in_use_missing": {"en": "Model {id} is chosen, but its file is missing: **the default model** generates.",
                             "ko": "모델 {id}이(가) 선택되었지만 파일이 없어 **기본 모델**로 생성합니다."},
    "model_in_use_default": {"en": "Generating with **the default model**.", "ko": "**기본 모델**로 생성합니다."},
    "model_unknown": {"en": "There is no model {id}.", "ko": "모델 {id}이(가) 없습니다."},
    "model_not_evaluated": {"en": "Model {id} cannot generate: it is {state}, and only an evaluated version can.",
                            "ko": "모델 {id}은(는) 생성에 쓸 수 없습니다: 상태가 {state}이며, 평가를 마친 버전만 "
                                  "쓸 수 있습니다."},
    "model_bad_choice": {"en": "Choose a model id or the default model.", "ko": "모델 id 또는 기본 모델을 고르세요."},
    "with_teacher": {"en": "{value} (teacher {teacher})", "ko": "{value} (교사 {teacher})"},
    "at_strength": {"en": "{cell}, strength {strength}", "ko": "{cell}, 강도 {strength}"},
    "with_guide": {"en": "{cell}, guide {guide}", "ko": "{cell}, 운율 안내 {guide}"},
    "with_postfilter": {"en": "{cell}, postfilter {beta}", "ko": "{cell}, 멜 후처리 {beta}"},
    "with_refiner": {"en": "{cell}, refiner {version}", "ko": "{cell}, 멜 정제기 {version}"},
    "active_mark": {"en": "✓ active", "ko": "✓ 사용 중"},
    "col_model": {"en": "id", "ko": "id"},
    "col_version": {"en": "version", "ko": "버전"},
    "col_parent": {"en": "parent", "ko": "부모 버전"},
    "col_state": {"en": "state", "ko": "상태"},
    "col_clips": {"en": "clips learned", "ko": "학습한 음성"},
    "col_steps": {"en": "steps", "ko": "단계"},
    "col_loss": {"en": "final loss", "ko": "최종 손실"},
    "col_wer": {"en": "WER", "ko": "WER"},
    "col_emotion_acc": {"en": "emotion accuracy", "ko": "감정 정확도"},
    "col_dnsmos": {"en": "quality (DNSMOS, 1-5)", "ko": "음질 (DNSMOS, 1-5)"},
    "col_prosody": {"en": "emotion prosody carried (share of the teacher's contrast)",
                    "ko": "감정 운율 재현 (교사 대비 비율)"},
    "col_ripple": {"en": "pitch detail in the mel (harmonic ripple below 1 kHz)",
                   "ko": "멜 스펙트럼의 음높이 정보 (1 kHz 이하 배음 굴곡)"},
    "prosody_f0_st": {"en": "F0", "ko": "음높이"},
    "prosody_f0_range_st": {"en": "range", "ko": "음역"},
    "prosody_final_st": {"en": "end", "ko": "끝 억양"},
    "prosody_energy_db": {"en": "level", "ko": "세기"},
    "prosody_tempo_pct": {"en": "tempo", "ko": "빠르기"},
    "model_auto_activated": {"en": "activated automatically: no worse than its parent",
                             "ko": "자동으로 사용: 부모 버전보다 나쁘지 않음"},
    "model_held_back": {"en": "held back for the admin: {reasons}",
                        "ko": "관리자 결정 대기 (자동 사용 보류): {reasons}"},
    "col_diagonality": {"en": "attention diagonality", "ko": "어텐션 대각성"},
    "col_active": {"en": "active", "ko": "사용 중"},
    "col_finished": {"en": "finished (UTC)", "ko": "완료 (UTC)"},
    "col_note": {"en": "note", "ko": "비고"},
    # the bot lab
    "bots_title": {"en": "### Bot lab\nAttackers play the captcha through its HTTP API, on a server of their own over "
                         "a fresh starter library (never this one), beside the pass rates of the live traffic.",
                   "ko": "### 봇 실험실\n공격 봇이 HTTP API로 캡차를 풉니다. 봇은 새 스타터 라이브러리를 둔 "
                         "별도의 서버에서만 플레이하며(이 라이브러리는 건드리지 않음), "
                         "실제 트래픽의 통과율과 나란히 보여 줍니다."},
    "bots_none": {"en": "**No bot evaluation yet.** Start one below, or run `{command}`. Under the policy in force "
                        "(pass {policy}), random guessing passes **{chance}**.",
                  "ko": "**아직 봇 평가가 없습니다.** 아래에서 시작하거나 `{command}`를 실행하세요. 현재 정책"
                        "(통과 {policy})에서 무작위 추측의 통과 확률은 **{chance}**입니다."},
    "bots_evaluated": {"en": "Latest evaluation: #{id}, {when} UTC, {n} challenges per attacker and policy.",
                       "ko": "최근 평가: #{id}, {when} UTC, 공격 봇과 정책마다 챌린지 {n}개."},
    "bots_not_covered": {"en": "It played pass {policies}, not the policy in force (pass {policy}): start one "
                               "below to judge the captcha as it is.",
                         "ko": "이 평가는 통과 {policies} 정책으로 진행되어 현재 정책(통과 {policy})과 다릅니다. "
                               "현재 캡차를 판단하려면 아래에서 새로 시작하세요."},
    "bots_not_stopped": {"en": "**Not stopped** under pass {policy}: {names}. Their 95 % interval lies above chance "
                               "({chance}): they beat guessing.",
                         "ko": "통과 {policy} 정책에서 **막지 못함**: {names}. 95 % 구간이 우연 수준({chance})보다 "
                               "높습니다. 추측보다 낫습니다."},
    "bots_stopped": {"en": "**Stopped** (no better than chance, {chance}): {names}.",
                     "ko": "**막음** (우연 수준 {chance}보다 낫지 않음): {names}."},
    "bots_nobody": {"en": "none", "ko": "없음"},
    "bots_human": {"en": "**People** under pass {policy}: {passed} of {total} closed challenges passed (**{rate}**, "
                         "95 % interval [{low}, {high}]).",
                   "ko": "통과 {policy} 정책의 **사람**: 끝난 챌린지 {total}개 중 {passed}개 통과(**{rate}**, "
                         "95 % 구간 [{low}, {high}])."},
    "bots_human_none": {"en": "No challenge under pass {policy} has closed yet: no human pass rate to compare.",
                        "ko": "통과 {policy} 정책으로 끝난 챌린지가 아직 없어 비교할 사람의 통과율이 없습니다."},
    "bots_plot": {"en": "Pass rates of the latest evaluation (95 % intervals; dashed: chance)",
                  "ko": "최근 평가의 통과율 (95 % 구간, 점선: 우연 수준)"},
    "bots_attackers": {"en": "Attackers (acoustic renders 512 clips first: minutes)",
                       "ko": "공격 봇 (acoustic은 먼저 음성 512개를 만듭니다: 몇 분)"},
    "bots_challenges": {"en": "Challenges per attacker", "ko": "공격 봇마다 챌린지 수"},
    "bots_start": {"en": "Start an evaluation", "ko": "평가 시작"},
    "bots_refused": {"en": "**Evaluation not started:** {reason}", "ko": "**평가를 시작하지 않았습니다:** {reason}"},
    "bots_refused_attackers": {"en": "choose one or more attackers ({choices}).",
                               "ko": "공격 봇을 하나 이상 고르세요 ({choices})."},
    "bots_refused_challenges": {"en": "the challenges per cell must be from 1 to {most}.",
                                "ko": "칸마다 챌린지 수는 1에서 {most} 사이여야 합니다."},
    "bots_job_none": {"en": "No evaluation started here yet.", "ko": "여기서 시작한 평가가 아직 없습니다."},
    "bots_job_status": {"en": "Evaluation job {id}: **{state}**, {done} / {total} attackers played. {detail}",
                        "ko": "평가 작업 {id}: **{state}**, 공격 봇 {total}개 중 {done}개 완료. {detail}"},
    "bots_job_done": {"en": "Stored as evaluation #{id}.", "ko": "평가 #{id}(으)로 저장했습니다."},
    "col_attacker": {"en": "attacker", "ko": "공격 봇"},
    "col_configuration": {"en": "configuration", "ko": "구성"},
    "col_policy": {"en": "policy", "ko": "정책"},
    "col_passed": {"en": "passed / N", "ko": "통과 / N"},
    "col_failed": {"en": "failed", "ko": "실패"},
    "col_rate": {"en": "pass rate", "ko": "통과율"},
    "col_interval": {"en": "95 % interval", "ko": "95 % 구간"},
    "col_chance": {"en": "chance", "ko": "우연 수준"},
    "col_who": {"en": "who", "ko": "누구"},
    "people": {"en": "people (live)", "ko": "사람 (실제)"},
    # job progress: the states, and each stage a job reports (jobs.JobContext.progress's stage and values)
    "job_state_queued": {"en": "queued", "ko": "대기 중"},
    "job_state_running": {"en": "running", "ko": "실행 중"},
    "job_state_done": {"en": "done", "ko": "완료"},
    "job_state_failed": {"en": "failed", "ko": "실패"},
    "job_state_cancelled": {"en": "cancelled", "ko": "취소됨"},
    "job_state_cancelling": {"en": "cancelling", "ko": "취소하는 중"},
    "job_failed": {"en": "Failed: {error}", "ko": "실패: {error}"},
    "job_cancelling": {"en": "It stops at its next step.", "ko": "다음 단계에서 멈춥니다."},
    "duration_s": {"en": "{s} s", "ko": "{s}초"},
    "duration_min": {"en": "{m} min", "ko": "{m}분"},
    "duration_h": {"en": "{h} h {m} min", "ko": "{h}시간 {m}분"},
    "gen_queued": {"en": "Waiting for the job before it to end; {total} clips to make.",
                   "ko": "앞선 작업이 끝나기를 기다리는 중입니다. 만들 음성 {total}개."},
    "stage_gen_load": {"en": "Loading the model; {total} clips to make.",
                       "ko": "모델을 불러오는 중입니다. 만들 음성 {total}개."},
    "stage_gen_speak": {"en": "{done} / {total} clips made; the acoustic model is speaking clips {first} to {last}.",
                        "ko": "음성 {total}개 중 {done}개 완료. 음향 모델이 {first}~{last}번 음성을 읽는 중입니다."},
    "stage_gen_clips": {"en": "{done} / {total} clips made.", "ko": "음성 {total}개 중 {done}개 완료."},
    "gen_done": {"en": "{done} / {total} clips: {made} made, {failed} failed.",
                 "ko": "음성 {total}개 중 {done}개 처리: {made}개 생성, {failed}개 실패."},
    "gen_cancelled": {"en": "Cancelled after {done} / {total} clips.",
                      "ko": "음성 {total}개 중 {done}개를 처리한 뒤 취소되었습니다."},
    "gen_refused": {"en": "**Generation not started:** {reason}", "ko": "**생성을 시작하지 않았습니다:** {reason}"},
    "gen_refused_count": {"en": "the number of clips must be from 1 to {most}.",
                          "ko": "음성 수는 1에서 {most} 사이여야 합니다."},
    "gen_refused_no_emotion": {"en": "choose at least one emotion.", "ko": "감정을 하나 이상 고르세요."},
    "gen_refused_unknown_emotion": {"en": "there is no emotion {emotion}.", "ko": "{emotion}이라는 감정은 없습니다."},
    "gen_refused_unknown_voice": {"en": "the model has no voice {voice}.", "ko": "모델에 {voice} 목소리가 없습니다."},
    "stage_train_prepare": {"en": "Computing mel targets: {prepared} / {clips} clips.",
                            "ko": "멜 타깃 계산 중: 음성 {clips}개 중 {prepared}개."},
    "stage_train_start": {"en": "Mel targets ready for {clips} clips; the first of {steps} steps is running.",
                          "ko": "음성 {clips}개의 멜 타깃을 마쳤습니다. {steps}단계 중 첫 단계를 실행하는 중입니다."},
    "stage_train_step": {"en": "Step {step} / {steps}, loss {loss}, {eta}.",
                         "ko": "{steps}단계 중 {step}단계, 손실 {loss}, {eta}."},
    "eta_left": {"en": "about {time} left", "ko": "남은 시간 약 {time}"},
    "eta_unknown": {"en": "time left known after the next step", "ko": "남은 시간은 다음 단계 뒤에 나옵니다"},
    "stage_train_evaluate": {"en": "Evaluating {target}: {part}.", "ko": "{target} 평가 중: {part}."},
    "eval_target_version": {"en": "the new version", "ko": "새 버전"},
    "eval_target_parent": {"en": "the parent version, for comparison", "ko": "비교할 부모 버전"},
    "eval_part_start": {"en": "held-out sentences", "ko": "평가용 문장"},
    "eval_part_teacher": {"en": "rendering the teacher's held-out clips", "ko": "교사의 평가용 음성을 만드는 중"},
    "eval_part_forced": {"en": "teacher-forced metrics", "ko": "교사 강제(teacher forcing) 지표"},
    "eval_part_speaking": {"en": "speaking held-out sentences {first} to {last} of {of}",
                           "ko": "평가용 문장 {of}개 중 {first}~{last}번을 읽는 중"},
    "eval_part_asr": {"en": "recognizing speech", "ko": "음성 인식 중"},
    "eval_part_dnsmos": {"en": "estimating quality (DNSMOS)", "ko": "음질 추정 중 (DNSMOS)"},
    "eval_part_emotions": {"en": "judging emotions", "ko": "감정 판정 중"},
    "stage_train_finished": {"en": "Trained {step} steps and evaluated; finishing.",
                             "ko": "{step}단계 학습과 평가를 마쳤습니다. 마무리하는 중입니다."},
    "train_cancelled_preparing": {"en": "Cancelled while computing mel targets, before the first step.",
                                  "ko": "첫 단계 전, 멜 타깃을 계산하던 중에 취소되었습니다."},
    "train_cancelled_evaluating": {"en": "Cancelled during the evaluation, after {done} / {total} steps.",
                                   "ko": "{total}단계 중 {done}단계 학습 뒤, 평가 중에 취소되었습니다."},
    "train_outcome_activated": {"en": "It generates now: activated automatically.",
                                "ko": "자동으로 사용되어 지금 생성에 쓰입니다."},
    "train_outcome_held_back": {"en": "Held back for the admin: its note below says why.",
                                "ko": "관리자 결정을 위해 보류했습니다. 아래 비고에 이유가 있습니다."},
    "train_refused_empty_pool": {"en": "the learning pool has no clip with a text to learn from.",
                                 "ko": "학습 풀에 배울 텍스트가 있는 음성이 없습니다."},
    "train_refused_busy": {"en": "training job {job} is already queued or running.",
                           "ko": "학습 작업 {job}이(가) 이미 대기 중이거나 실행 중입니다."},
    "train_refused_suspect_batch": {
        "en": "the learning clips' labels come mostly from single-use client addresses: {suspect_votes} of their "
              "{votes} counted votes ({share}, more than {limit}) were cast by {suspect_voters} addresses that voted "
              "in one challenge only, as a Sybil bot's do. The clips stay in learning; a run starts when returning "
              "visitors or signed-in labelers cast most of the votes.",
        "ko": "학습 음성의 라벨이 대부분 한 번만 쓰인 클라이언트 주소에서 왔습니다: 집계된 표 {votes}개 중 "
              "{suspect_votes}개({share}, 한도 {limit} 초과)를 챌린지 하나에만 투표한 주소 {suspect_voters}개가 "
              "던졌습니다. Sybil 봇의 방식입니다. 음성은 학습 풀에 남고, 돌아온 방문자나 로그인한 라벨러가 표의 "
              "대부분을 던지면 학습이 시작됩니다.",
    },
    "model_default_row": {"en": "default", "ko": "기본"},
    "model_state_shipped": {"en": "shipped", "ko": "기본 제공"},
    "model_state_configured": {"en": "configured", "ko": "설정됨"},
    "model_note_default": {"en": "generates when no version is chosen ({path})",
                           "ko": "버전을 고르지 않으면 이 모델로 생성합니다 ({path})"},
    "model_note_eval_report": {"en": "; held-out metrics as `insideout eval` measured them (the report beside it)",
                               "ko": "; 평가 지표는 `insideout eval`이 측정한 값입니다 (옆의 보고서)"},
    "model_note_unmeasured": {"en": "; its held-out metrics appear once a fine-tune is compared with it",
                              "ko": "; 평가 지표는 미세 조정 버전과 비교할 때 측정됩니다"},
    "stage_bots_start": {"en": "Starting the evaluation's own server.", "ko": "평가용 서버를 시작하는 중입니다."},
    "stage_bots_cell": {"en": "Last played: {attacker} under pass {policy}, {passes} / {n} passed.",
                        "ko": "마지막 완료: {attacker}, 통과 {policy} 정책, {n}개 중 {passes}개 통과."},
    "axis_step": {"en": "step", "ko": "단계"},
    "axis_loss": {"en": "loss", "ko": "손실"},
}


def t(lang: str, key: str, **values: object) -> str:
    """The text for key in lang (English when lang is unknown), with {values} filled in."""
    entry = TEXTS[key]
    text = entry.get(lang) or entry["en"]
    return text.format(**values) if values else text


def emotion_name(lang: str, emotion_id: str) -> str:
    e = emotion(emotion_id)
    return e.ko if lang == "ko" else e.en


def voice_choices(lang: str) -> list[tuple[str, str]]:
    """The admin's voice choice for generation: rotate, blend, or a starter voice (a model may lack one:
    the job then says which voices it has)."""
    from ...corpus.synth import VOICES
    from ...generation import BLEND, ROTATE

    return [(t(lang, "voice_rotate"), ROTATE), (t(lang, "voice_blend"), BLEND), *((v, v) for v in VOICES)]


def emotion_choices(lang: str) -> list[tuple[str, str]]:
    """The eight choices, labelled in both languages, the chosen language first."""
    if lang == "ko":
        return [(f"{e.ko} · {e.en}", e.id) for e in EMOTIONS]
    return [(f"{e.en} · {e.ko}", e.id) for e in EMOTIONS]


def percent(value: float | None, lang: str = "en") -> str:
    return t(lang, "none_yet") if value is None else f"{value:.1%}"


def number(value: float | None, lang: str = "en") -> str:
    return t(lang, "none_yet") if value is None else f"{value:.3f}"
