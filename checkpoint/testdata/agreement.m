-- A Murphi model of the agreement on an epoch's cut (checkpoint/agreement.go;
-- docs/protocol.md, "Validators that stop"), checked by rumur:
--
--   rumur --output agreement.c agreement.m && cc -O2 -o agreement agreement.c -lpthread && ./agreement
--
-- Four validators of equal power: 0 and 1 honest, 2 silent (its marker reached
-- validator 0 only, then it stopped), 3 Byzantine: it sends any prevote and
-- precommit of any round, with any value or nil, to either honest validator at
-- any time (equivocation included), and any proposal of round 2, where it is
-- the proposer (round 3's proposer is validator 0). Value A cuts validator 2 at
-- its marker, B has it absent. Validator 0 can execute both; validator 1 only B
-- until it repairs validator 2's stream (a rule of its own). Messages between the
-- honest validators are delivered in any order, each at most once; timeouts
-- fire in any order. Rounds are bounded by NR. The invariant: no two honest
-- validators decide different values. BREAK_LOCK breaks the locking rule as
-- agreeConfig.breakLock does; the model then violates the invariant.
--
-- Rules follow agreement.go and the paper's Algorithm 1 (L22, L28, ...).

const
  NR: 4;            -- rounds 0..NR-1
  LEADERLESS: 2;    -- rounds below it have no proposer
  BREAK_LOCK: false;

type
  vid: 0..3;
  hid: 0..1;
  rnd: 0..NR-1;
  -- a received message slot: 0 none, 1 A, 2 B, 3 nil
  slot: 0..3;
  -- a value: 0 none, 1 A, 2 B
  value: 0..2;
  rndo: -1..NR-1;

  Honest: record
    round: rnd;
    step: 0..2;            -- 0 propose, 1 prevote, 2 precommit
    locked: value;
    lockedRound: rndo;
    validV: value;
    validRound: rndo;
    decision: value;
    hasMarker: boolean;
    pv: array [rnd] of array [vid] of slot;   -- prevotes, own included
    pc: array [rnd] of array [vid] of slot;   -- precommits, own included
    propV: array [rnd] of value;              -- the round's proposal
    propVR: array [rnd] of rndo;
    proposeArmed: boolean;
    prevoteArmed: boolean;
    precommitArmed: boolean;
    pvTimer: array [rnd] of boolean;
    pcTimer: array [rnd] of boolean;
    lockedHere: array [rnd] of boolean;
  end;

var
  h: array [hid] of Honest;

function proposer(r: rnd): vid;
begin
  return (1 + r) % 4;   -- epoch 1
end;

function candidate(i: hid; r: rnd): value;
begin
  if h[i].hasMarker then return 1; endif;
  if r = 0 then return 0; endif;   -- round 0 waits for every present marker
  return 2;
end;

function valid(i: hid; v: value): boolean;
begin
  return v = 2 | (v = 1 & h[i].hasMarker);
end;

function countPv(i: hid; r: rnd; s: slot): 0..4;
var c: 0..4;
begin
  c := 0;
  for k: vid do if h[i].pv[r][k] = s then c := c + 1; endif; endfor;
  return c;
end;

function countPc(i: hid; r: rnd; s: slot): 0..4;
var c: 0..4;
begin
  c := 0;
  for k: vid do if h[i].pc[r][k] = s then c := c + 1; endif; endfor;
  return c;
end;

function anyPv(i: hid; r: rnd): 0..4;
var c: 0..4;
begin
  c := 0;
  for k: vid do if h[i].pv[r][k] != 0 then c := c + 1; endif; endfor;
  return c;
end;

function anyPc(i: hid; r: rnd): 0..4;
var c: 0..4;
begin
  c := 0;
  for k: vid do if h[i].pc[r][k] != 0 then c := c + 1; endif; endfor;
  return c;
end;

procedure startRound(i: hid; r: rnd);
begin
  h[i].round := r;
  h[i].step := 0;
  h[i].proposeArmed := true;
  h[i].prevoteArmed := false;
  h[i].precommitArmed := false;
  if r >= LEADERLESS & proposer(r) = i & h[i].propV[r] = 0 then
    if h[i].validV != 0 then
      h[i].propV[r] := h[i].validV;
      h[i].propVR[r] := h[i].validRound;
    else
      h[i].propV[r] := candidate(i, r);
      h[i].propVR[r] := -1;
    endif;
  endif;
end;

-- prevote and precommit record the own message, once per round.
procedure prevote(i: hid; s: slot);
begin
  if h[i].pv[h[i].round][i] = 0 then h[i].pv[h[i].round][i] := s; endif;
  h[i].step := 1;
end;

procedure precommit(i: hid; s: slot);
begin
  if h[i].pc[h[i].round][i] = 0 then h[i].pc[h[i].round][i] := s; endif;
  h[i].step := 2;
end;

-- check applies every rule until none applies.
procedure check(i: hid);
var changed: boolean;
var r: rnd;
var v: value;
var vr: rndo;
var senders: 0..4;
var best: 0..4;
var target: rndo;
begin
  changed := true;
  while changed do
    changed := false;
    -- L49: a quorum of precommits for a value in one round decides it.
    if h[i].decision = 0 then
      for rr: rnd do
        for vv := 1 to 2 do
          if h[i].decision = 0 & countPc(i, rr, vv) >= 3 then
            h[i].decision := vv;
            changed := true;
          endif;
        endfor;
      endfor;
    endif;
    if h[i].decision = 0 & !changed then
      -- L55: more than a third of the power in a later round.
      target := -1;
      for rr: rnd do
        if rr > h[i].round then
          senders := 0;
          for k: vid do
            if h[i].pv[rr][k] != 0 | h[i].pc[rr][k] != 0 | (rr >= LEADERLESS & k = proposer(rr) & h[i].propV[rr] != 0) then
              senders := senders + 1;
            endif;
          endfor;
          if senders >= 2 then target := rr; endif;
        endif;
      endfor;
      if target != -1 then
        startRound(i, target);
        changed := true;
      endif;
    endif;
    r := h[i].round;
    if h[i].decision = 0 & !changed & h[i].step = 0 then
      if r < LEADERLESS then
        v := h[i].validV;
        if v = 0 | BREAK_LOCK then v := candidate(i, r); endif;
        if v != 0 then prevote(i, v); changed := true; endif;
      elsif h[i].propV[r] != 0 then
        v := h[i].propV[r];
        vr := h[i].propVR[r];
        if vr = -1 then                                            -- L22
          if valid(i, v) & (h[i].lockedRound = -1 | h[i].locked = v | BREAK_LOCK) then
            prevote(i, v);
          else
            prevote(i, 3);
          endif;
          changed := true;
        elsif vr < r & countPv(i, vr, v) >= 3 then                -- L28
          if valid(i, v) & (h[i].lockedRound <= vr | h[i].locked = v | BREAK_LOCK) then
            prevote(i, v);
          else
            prevote(i, 3);
          endif;
          changed := true;
        endif;
      endif;
    endif;
    if h[i].decision = 0 & !changed & h[i].step = 1 & !h[i].pvTimer[r] & anyPv(i, r) >= 3 then   -- L34
      h[i].pvTimer[r] := true;
      h[i].prevoteArmed := true;
      changed := true;
    endif;
    if h[i].decision = 0 & !changed & h[i].step >= 1 & !h[i].lockedHere[r] then                   -- L36
      for vv := 1 to 2 do
        if !changed & countPv(i, r, vv) >= 3 & (r < LEADERLESS | h[i].propV[r] = vv) & valid(i, vv) then
          h[i].lockedHere[r] := true;
          if h[i].step = 1 then
            h[i].locked := vv;
            h[i].lockedRound := r;
            precommit(i, vv);
          endif;
          h[i].validV := vv;
          h[i].validRound := r;
          changed := true;
        endif;
      endfor;
    endif;
    if h[i].decision = 0 & !changed & h[i].step = 1 & countPv(i, r, 3) >= 3 then                 -- L44
      precommit(i, 3);
      changed := true;
    endif;
    if h[i].decision = 0 & !changed & !h[i].pcTimer[r] & anyPc(i, r) >= 3 then                      -- L47
      h[i].pcTimer[r] := true;
      best := countPc(i, r, 1);
      if countPc(i, r, 2) > best then best := countPc(i, r, 2); endif;
      if best + (4 - anyPc(i, r)) < 3 then
        if r < NR - 1 then startRound(i, r + 1); endif;
      else
        h[i].precommitArmed := true;
      endif;
      changed := true;
    endif;
  endwhile;
end;

startstate
begin
  for i: hid do
    h[i].round := 0;
    h[i].step := 0;
    h[i].locked := 0;
    h[i].lockedRound := -1;
    h[i].validV := 0;
    h[i].validRound := -1;
    h[i].decision := 0;
    h[i].hasMarker := (i = 0);
    for r: rnd do
      for k: vid do
        h[i].pv[r][k] := 0;
        h[i].pc[r][k] := 0;
      endfor;
      h[i].propV[r] := 0;
      h[i].propVR[r] := -1;
      h[i].pvTimer[r] := false;
      h[i].pcTimer[r] := false;
      h[i].lockedHere[r] := false;
    endfor;
    h[i].proposeArmed := true;
    h[i].prevoteArmed := false;
    h[i].precommitArmed := false;
  endfor;
  check(0);
  check(1);
end;

-- An honest validator's prevote or precommit reaches the other one.
ruleset i: hid; j: hid; r: rnd do
  rule "deliver prevote"
    i != j & h[j].decision = 0 & h[i].pv[r][i] != 0 & h[j].pv[r][i] = 0
  ==>
  begin
    h[j].pv[r][i] := h[i].pv[r][i];
    check(j);
  end;

  rule "deliver precommit"
    i != j & h[j].decision = 0 & h[i].pc[r][i] != 0 & h[j].pc[r][i] = 0
  ==>
  begin
    h[j].pc[r][i] := h[i].pc[r][i];
    check(j);
  end;
end;

-- Validator 0's proposal of a round it proposes reaches validator 1.
ruleset r: rnd do
  rule "deliver proposal"
    r >= LEADERLESS & proposer(r) = 0 & h[0].propV[r] != 0 & h[1].propV[r] = 0 & h[1].decision = 0
  ==>
  begin
    h[1].propV[r] := h[0].propV[r];
    h[1].propVR[r] := h[0].propVR[r];
    check(1);
  end;
end;

-- The Byzantine validator 3 sends anything to anyone.
ruleset j: hid; r: rnd; s: 1..3 do
  rule "byzantine prevote"
    h[j].decision = 0 & h[j].pv[r][3] = 0
  ==>
  begin
    h[j].pv[r][3] := s;
    check(j);
  end;

  rule "byzantine precommit"
    h[j].decision = 0 & h[j].pc[r][3] = 0
  ==>
  begin
    h[j].pc[r][3] := s;
    check(j);
  end;
end;

ruleset j: hid; v: 1..2; vr: -1..1 do
  rule "byzantine proposal"
    h[j].decision = 0 & h[j].propV[2] = 0
  ==>
  begin
    h[j].propV[2] := v;
    h[j].propVR[2] := vr;
    check(j);
  end;
end;

-- Timeouts, in any order.
ruleset i: hid do
  rule "timeout propose"
    h[i].decision = 0 & h[i].proposeArmed
  ==>
  begin
    h[i].proposeArmed := false;
    if h[i].step = 0 then prevote(i, 3); endif;
    check(i);
  end;

  rule "timeout prevote"
    h[i].decision = 0 & h[i].prevoteArmed
  ==>
  begin
    h[i].prevoteArmed := false;
    if h[i].step = 1 then precommit(i, 3); endif;
    check(i);
  end;

  rule "timeout precommit"
    h[i].decision = 0 & h[i].precommitArmed
  ==>
  begin
    h[i].precommitArmed := false;
    if h[i].round < NR - 1 then startRound(i, h[i].round + 1); endif;
    check(i);
  end;
end;

-- Validator 1 repairs validator 2's stream from validator 0.
rule "repair"
  !h[1].hasMarker & h[1].decision = 0
==>
begin
  h[1].hasMarker := true;
  check(1);
end;

invariant "agreement"
  !(h[0].decision != 0 & h[1].decision != 0 & h[0].decision != h[1].decision);
